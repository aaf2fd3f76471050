package ladder

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteHTML writes d as one self-contained HTML page: the diagram's data
// as JSON in the page, and a script that draws the arrows of the time
// window in view as inline SVG (so a 50,000-event run stays responsive),
// with zoom (buttons, ctrl+wheel), a scrubber, scrolling (wheel), and
// filters by host, by flow (a pair of addresses as sent, both ways), by
// text (an address, a protocol, a reason, id:N) and by time window.
// Arrows marked by Diagram.Highlight are drawn orange with their label and
// listed at the top of the page, each a link to its arrow.
// Nothing is loaded from the network. Opening the page with #all in its
// address draws every arrow at once, zoomed to the whole run (what tests
// count); host=NAME, flow=..., q=TEXT and from=MS&to=MS (joined with &,
// as in #all&q=loss) open it filtered.
func WriteHTML(w io.Writer, d *Diagram) error {
	data, err := json.Marshal(d) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("ladder: %w", err)
	}
	title := d.Name
	if title == "" {
		title = "vnetsim run"
	}
	title = fmt.Sprintf("%s (seed %d)", title, d.Seed)
	page := strings.NewReplacer(
		"{{TITLE}}", htmlEscape(title),
		"{{DATA}}", string(data),
	).Replace(pageTemplate)
	_, err = io.WriteString(w, page)
	return err
}

// dataOpen opens the page's script element that holds the diagram as JSON.
const dataOpen = `<script id="data" type="application/json">`

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

const pageTemplate = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{TITLE}} - vnetsim ladder</title>
<style>
body{margin:0;font:12px system-ui,sans-serif;color:#222;background:#fff}
#bar{position:sticky;top:0;background:#f4f4f4;border-bottom:1px solid #ccc;padding:6px 8px;z-index:2;display:flex;flex-wrap:wrap;gap:6px;align-items:center}
#bar input[type=text]{width:14em}#bar input.t{width:7em}
#scrub{flex:1;min-width:200px}
#status{color:#555}
#heads{position:sticky;top:38px;background:#fff;z-index:1;border-bottom:1px solid #ddd;height:34px}
svg text{font:11px system-ui,sans-serif}
.lane{stroke:#bbb;stroke-width:1}.lane.router{stroke:#889;stroke-dasharray:4 3}
.head{font-weight:600}.head.router{fill:#446}.sub{fill:#777;font-size:10px}
.arrow polyline{fill:none;stroke-width:1.4}
.arrow.deliver polyline{stroke:#1a5fb4}
.arrow.drop polyline{stroke:#c01c28;stroke-dasharray:5 3}
.arrow:hover polyline,.arrow.sel polyline{stroke-width:3}
.arrow.hl polyline{stroke:#e66100;stroke-width:3.2;stroke-dasharray:none}
.note{fill:#e66100;font-weight:700}
#marks{padding:6px 8px;background:#fff4e8;border-bottom:1px solid #e66100}#marks ol{margin:4px 0 0;padding-left:22px}#marks a{color:#b34700}
.lbl{fill:#1a5fb4}.why{fill:#c01c28;font-weight:600}.nat{fill:#2a7d2a;font-size:10px}
.tick{stroke:#eee}.tl{fill:#888;font-size:10px}
#detail{position:fixed;right:8px;bottom:8px;max-width:60%;max-height:40%;overflow:auto;background:#fffff0;border:1px solid #cc9;padding:6px;white-space:pre;font:11px monospace;display:none}
</style></head><body>
<div id="marks" hidden></div>
<div id="bar">
<b>{{TITLE}}</b>
<button id="zin" title="zoom in (ctrl+wheel)">+</button><button id="zout" title="zoom out">&minus;</button><button id="fit">fit</button>
<input id="scrub" type="range" min="0" max="1" step="1" title="scrub through virtual time">
from <input id="from" class="t" type="text" title="window start, ms"> to <input id="to" class="t" type="text" title="window end, ms"> ms
<select id="host"><option value="">all hosts</option></select>
<select id="flow"><option value="">all flows</option></select>
<input id="q" type="text" placeholder="filter: address, flow, STUN, loss, id:17">
<span id="status"></span>
</div>
<svg id="heads" width="100%"></svg>
<svg id="chart" width="100%"></svg>
<div id="detail"></div>
` + dataOpen + `{{DATA}}</script>
<script>
"use strict";
const D=JSON.parse(document.getElementById("data").textContent);
const HP=new URLSearchParams(location.hash.slice(1));
const ALL=HP.has("all"), MAX=ALL?Infinity:3000, LABELS=300, NATS=12;
const $=id=>document.getElementById(id);
const chart=$("chart"),heads=$("heads");
const M=90; // left margin: the time axis
const end=Math.max(D.end,1);
let t0=0, span=end, sel=-1;
D.arrows.forEach((a,i)=>{a.i=i;a.t1=a.pts.length?a.pts[a.pts.length-1].t:0;a.t0=a.pts.length?a.pts[0].t:0;
 a.s=(a.src+" "+a.dst+" "+a.label+" "+(a.reason||"")+" "+(a.note||"")+" id:"+a.id+" "+a.detail).toLowerCase();
 a.lanes=new Set([a.from,a.to].concat(a.pts.map(p=>p.x)));
 a.flow=a.src<a.dst?a.src+" <> "+a.dst:a.dst+" <> "+a.src;});
{const fc=new Map();for(const a of D.arrows)fc.set(a.flow,(fc.get(a.flow)||0)+1);
 [...fc.entries()].sort((x,y)=>y[1]-x[1]).slice(0,300).forEach(([f,n])=>{const o=document.createElement("option");o.value=f;o.textContent=f+" ("+n+")";$("flow").appendChild(o);});}
D.lanes.forEach((l,i)=>{const o=document.createElement("option");o.value=i;o.textContent=l.name;$("host").appendChild(o);});
$("scrub").max=end;
if(!ALL&&D.arrows.length>MAX){span=Math.max(end/50,1e6);} // a long run: start with a window
function esc(s){return String(s).replace(/&/g,"&amp;").replace(/</g,"&lt;").replace(/>/g,"&gt;");}
function ms(t){return (t/1e6).toFixed(t<1e7?3:1);}
function W(){return Math.max(chart.clientWidth||document.body.clientWidth||1000,300);}
function H(){return Math.max(window.innerHeight-90,300);}
function LW(){return (W()-M)/Math.max(D.lanes.length,1);}
function X(x){return M+x*LW()+LW()/2;}
function Y(t){return 10+(t-t0)/span*(H()-20);}
function visible(a){
 if(a.t0>t0+span||a.t1<t0)return false;
 const h=$("host").value; if(h!==""&&!a.lanes.has(+h))return false;
 const f=$("flow").value; if(f!==""&&a.flow!==f)return false;
 const q=$("q").value.trim().toLowerCase(); if(q&&!q.split(/\s+/).every(w=>a.s.includes(w)))return false;
 return true;}
function render(){
 const w=W(),h=H(),lw=LW();
 let s="";
 D.lanes.forEach((l,i)=>{s+='<text class="head '+(l.kind||"")+'" x="'+X(i)+'" y="14" text-anchor="middle">'+esc(l.name)+'</text>';
  if(l.nat)s+='<text class="sub" x="'+X(i)+'" y="28" text-anchor="middle">NAT</text>';});
 heads.setAttribute("height",34);heads.innerHTML=s;
 s='<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#1a5fb4"/></marker></defs>';
 const step=niceStep(span/8);
 for(let t=Math.ceil(t0/step)*step;t<=t0+span;t+=step){const y=Y(t);s+='<line class="tick" x1="'+M+'" x2="'+w+'" y1="'+y+'" y2="'+y+'"/><text class="tl" x="4" y="'+(y+3)+'">'+ms(t)+' ms</text>';}
 D.lanes.forEach((l,i)=>{s+='<line class="lane '+(l.kind||"")+'" x1="'+X(i)+'" x2="'+X(i)+'" y1="0" y2="'+h+'"/>';});
 let shown=0,inview=0;
 const vis=[];
 for(const a of D.arrows){if(!visible(a))continue;inview++;if(vis.length<MAX||a.note)vis.push(a);}
 const labels=vis.length<=Math.min(LABELS,H()/14); // one label line per arrow at most
 for(const a of vis){
  const pts=a.pts.map(p=>X(p.x).toFixed(1)+","+Y(p.t).toFixed(1)).join(" ");
  const fate=a.fate==="inflight"?"inflight":a.fate;
  const cls=(fate==="inflight"?"":"arrow ")+fate+(a.note?" hl":"")+(a.i===sel?" sel":"");
  s+='<g class="'+cls+'" data-i="'+a.i+'"><title>'+esc((a.note?a.note+"\n":"")+a.detail)+'</title><polyline points="'+pts+'"'+(a.fate==="deliver"?' marker-end="url(#ah)"':'')+'/>';
  const last=a.pts[a.pts.length-1];
  if(a.fate==="drop"&&last){const x=X(last.x),y=Y(last.t);s+='<path d="M'+(x-4)+','+(y-4)+'L'+(x+4)+','+(y+4)+'M'+(x-4)+','+(y+4)+'L'+(x+4)+','+(y-4)+'" stroke="#c01c28" stroke-width="2"/><text class="why" x="'+(x+6)+'" y="'+(y+4)+'">'+esc(a.reason)+'</text>';}
  if(labels&&a.pts.length>1){const p=a.pts[0],q=a.pts[1];s+='<text class="lbl" x="'+((X(p.x)+X(q.x))/2).toFixed(1)+'" y="'+(((Y(p.t)+Y(q.t))/2)-3).toFixed(1)+'" text-anchor="middle">'+esc(a.label)+' #'+a.id+'</text>';}
  if(a.note&&last){const x=X(last.x),r=x>w/2; // on the right half, the label runs leftwards
   s+='<text class="note" x="'+(r?x-6:x+6).toFixed(1)+'" y="'+(Y(last.t)+17).toFixed(1)+'"'+(r?' text-anchor="end"':'')+'>'+esc(a.note.split(": ")[0])+'</text>';}
  for(const m of a.marks||[]){s+='<circle cx="'+X(m.x)+'" cy="'+Y(m.t)+'" r="3" fill="#2a7d2a"><title>'+esc(m.text)+'</title></circle>';
   if(vis.length<=NATS||a.i===sel)s+='<text class="nat" x="'+(X(m.x)+5)+'" y="'+(Y(m.t)+12)+'">'+esc(m.text)+'</text>';}
  s+='</g>';shown++;
 }
 chart.setAttribute("height",h);chart.innerHTML=s;
 $("status").textContent="window "+ms(t0)+"-"+ms(t0+span)+" ms: "+shown+" of "+inview+" arrows in view ("+D.arrows.length+" in the run)"+(shown<inview?"; zoom in to see all":"");
 $("scrub").value=t0;$("from").value=ms(t0);$("to").value=ms(t0+span);
}
function niceStep(x){const p=Math.pow(10,Math.floor(Math.log10(Math.max(x,1))));for(const m of [1,2,5,10])if(m*p>=x)return m*p;return 10*p;}
function clamp(){span=Math.min(Math.max(span,100),end*1.05);t0=Math.min(Math.max(t0,0),Math.max(end-span*0.1,0));}
function zoom(f,at){const c=at===undefined?t0+span/2:at;t0=c-(c-t0)*f;span*=f;clamp();render();}
$("zin").onclick=()=>zoom(0.5);$("zout").onclick=()=>zoom(2);$("fit").onclick=()=>{t0=0;span=end;render();};
$("scrub").oninput=e=>{t0=+e.target.value;clamp();render();};
$("from").onchange=$("to").onchange=()=>{const a=parseFloat($("from").value)*1e6,b=parseFloat($("to").value)*1e6;if(b>a){t0=a;span=b-a;clamp();render();}};
$("host").onchange=render;$("flow").onchange=render;$("q").oninput=render;
chart.addEventListener("wheel",e=>{e.preventDefault();if(e.ctrlKey){const r=chart.getBoundingClientRect();zoom(e.deltaY>0?1.25:0.8,t0+(e.clientY-r.top-10)/(H()-20)*span);}else{t0+=e.deltaY/H()*span;clamp();render();}},{passive:false});
chart.addEventListener("click",e=>{const g=e.target.closest("g[data-i]");if(!g){$("detail").style.display="none";sel=-1;render();return;}
 show(D.arrows[+g.dataset.i]);});
function show(a){const d=$("detail");sel=a.i;d.style.display="block";
 d.textContent=(a.note?a.note+"\n":"")+"packet id "+a.id+": "+a.fate+(a.reason?" ("+a.reason+")":"")+"\n"+a.detail+"\n\nstop a debugger just before its send:  VNETSIM_BREAK="+a.ev0+(a.ev1?"   before its end:  VNETSIM_BREAK="+a.ev1:"")+"   or  VNETSIM_BREAK=id:"+a.id;render();}
// The highlighted arrows (Diagram.Highlight), listed at the top: a click
// brings the arrow into view and shows its detail.
{const hl=D.arrows.filter(a=>a.note);
 if(hl.length){const m=$("marks");m.hidden=false;
  m.innerHTML="<b>"+hl.length+" highlighted arrow"+(hl.length>1?"s":"")+"</b><ol>"+hl.map(a=>'<li><a href="#" data-i="'+a.i+'">'+esc(a.note)+'</a> <span class="sub">(packet id '+a.id+": "+esc(a.fate+(a.reason?" "+a.reason:""))+" at "+ms(a.t1)+" ms)</span></li>").join("")+"</ol>";
  m.addEventListener("click",e=>{const l=e.target.closest("a[data-i]");if(!l)return;e.preventDefault();const a=D.arrows[+l.dataset.i];
   if(a.t0<t0||a.t1>t0+span){t0=(a.t0+a.t1)/2-span/2;clamp();}show(a);});}}
window.addEventListener("resize",render);
// #all&host=NAME&flow=A <> B&q=TEXT&from=MS&to=MS: open with these set.
if(HP.has("host"))$("host").value=String(D.lanes.findIndex(l=>l.name===HP.get("host")));
if(HP.has("flow"))$("flow").value=HP.get("flow");
if(HP.has("q"))$("q").value=HP.get("q");
if(HP.has("from")&&HP.has("to")){const a=parseFloat(HP.get("from"))*1e6,b=parseFloat(HP.get("to"))*1e6;if(b>a){t0=a;span=b-a;}}
render();
</script></body></html>
`
