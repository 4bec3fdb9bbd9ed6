// The page's one stylesheet, served from /ui/style.css (the CSP allows styles from
// 'self' only: no inline style, no external font or script).
export const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;background:#f3f5f8}
header{display:flex;flex-wrap:wrap;gap:8px;justify-content:space-between;align-items:center;padding:10px 16px;background:#1d2330;color:#fff}
header h1{font-size:18px;margin:0}
main{padding:12px;max-width:1200px;margin:0 auto}
.card{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:12px 14px;margin:0 0 14px;min-width:0}
h2{font-size:16px;margin:0 0 8px}
h2 small,td small{color:#6b7485;font-weight:normal}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}
dt{color:#6b7485}dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e7eaf0;vertical-align:top;white-space:nowrap}
td.detail{white-space:normal;overflow-wrap:anywhere;min-width:200px;font-size:12px;color:#4a5263}
th{font-size:12px;color:#6b7485;font-weight:600}
.state.paused,.bad{color:#b3261e;font-weight:600}
.state.warming{color:#8a5a00}.state.active,.ok{color:#1c7c3a}
.state.retired{color:#6b7485}
form.inline{display:inline-flex;flex-wrap:wrap;gap:4px;align-items:center}
input,button{font:inherit;padding:4px 8px;border:1px solid #b8c0cc;border-radius:4px}
input[name=reason]{width:10em}
button{background:#2a5bd7;color:#fff;border-color:#2a5bd7;cursor:pointer}
header button{background:transparent;border-color:#8a93a5}
.who{margin-right:6px;color:#c9d1df}
.flash{padding:8px 10px;border-radius:4px}
.flash.ok{background:#e3f4e8}.flash.error{background:#fbe4e2}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px;margin-top:10px}
figure{margin:0;min-width:0}
figcaption{font-size:12px;color:#6b7485}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#e7eaf0}
svg .axis,svg .empty{font-size:11px;fill:#6b7485}
svg .marker{stroke:#8a93a5;stroke-dasharray:3 3}
svg .bar.sent{fill:#7ea6f0}
svg .line{stroke-width:2}
svg .line.cap{stroke:#1c7c3a}
svg .line.bounce{stroke:#b3261e}
svg .line.complaint{stroke:#8a3ab9}
svg .dot.bounce{fill:#b3261e}svg .dot.complaint{fill:#8a3ab9}svg .dot.cap{fill:#1c7c3a}
svg .threshold{stroke-width:1.5;stroke-dasharray:6 4}
svg .threshold.pause{stroke:#b3261e}svg .threshold.hold{stroke:#c98a00}
svg .threshold-label{font-size:11px}
svg .threshold-label.pause{fill:#b3261e}svg .threshold-label.hold{fill:#8a5a00}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:10px;padding:0;margin:4px 0;font-size:12px}
.swatch{display:inline-block;width:12px;height:4px;margin-right:4px;vertical-align:middle;background:#999}
.swatch.sent{background:#7ea6f0;height:10px}.swatch.cap{background:#1c7c3a}.swatch.bounce{background:#b3261e}.swatch.complaint{background:#8a3ab9}
.swatch.threshold.pause{background:#b3261e}.swatch.threshold.hold{background:#c98a00}
.login{max-width:420px}
.login form{display:flex;flex-direction:column;gap:8px;background:#fff;padding:16px;border:1px solid #dde2ea;border-radius:6px}
.hint{font-size:12px;color:#6b7485}
@media (max-width:600px){main{padding:6px}.card{padding:10px 8px}th,td{padding:4px 5px}}
`;
