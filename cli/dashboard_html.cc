// dashboard_html.cc - escaping, forms, cookies, the page frame and the embedded assets.
#include "cli/dashboard_html.h"

#include "common/strings.h"

namespace hato::cli::html {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    // A form writes a space as '+'; a literal '+' arrives as %2B.
    auto n = percent_decode(name, true), v = percent_decode(value, true);
    if (!n || !v) return std::nullopt;
    out.emplace(std::move(*n), std::move(*v));
  }
  return out;
}

std::string cookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name)
      return std::string(pair.substr(eq + 1));
  }
  return "";
}

std::string csrf_field(std::string_view token) {
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + escape(token) + "\">";
}

std::string page(std::string_view title, std::string_view user, std::string_view csrf,
                 std::string_view body) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>" +
      escape(title) +
      " - Hato</title><link rel=\"stylesheet\" href=\"/static/dashboard.css\">"
      "<script src=\"/static/live.js\" defer></script></head><body>"
      "<header><nav aria-label=\"Main\"><span class=\"brand\">Hato</span>";
  if (!user.empty()) {
    out += "<a href=\"/\">Overview</a><a href=\"/queue\">Queue</a>";
    out += "<form method=\"post\" action=\"/logout\" class=\"logout\">" + csrf_field(csrf) +
           "<span>" + escape(user) + "</span> <button type=\"submit\">Log out</button></form>";
  }
  out += "</nav></header><main><h1>" + escape(title) + "</h1>";
  out += body;
  out += "</main></body></html>\n";
  return out;
}

// Colours chosen for a contrast of at least 4.5:1 (WCAG AA) for all text: #1b1b1b on white
// is 17:1, the link blue #0b57a4 on white 7:1, white on the header's #1f2d3d 13:1.
const std::string_view kStylesheet = R"css(
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff;line-height:1.4}
header{background:#1f2d3d;color:#fff;padding:.5rem 1rem}
nav{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
nav a{color:#fff;font-weight:600}
nav .brand{font-weight:700;margin-right:1rem}
nav .logout{margin-left:auto;display:flex;gap:.5rem;align-items:center}
main{padding:1rem;max-width:80rem}
a{color:#0b57a4}
a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid #e07b00;outline-offset:2px}
button{background:#0b57a4;color:#fff;border:0;padding:.4rem .9rem;border-radius:3px;font:inherit}
button.danger{background:#a40000}
input,select{font:inherit;padding:.3rem;border:1px solid #595959;border-radius:3px}
label{display:block;margin:.5rem 0 .2rem;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #767676;padding:.25rem .5rem;text-align:right}
th:first-child,td:first-child{text-align:left}
#messages td,#attempts td,#envelope td{text-align:left}
.scroll{overflow-x:auto}
.error{color:#a40000;font-weight:600}
.muted{color:#555}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #767676;border-radius:4px;padding:.5rem 1rem;min-width:9rem}
.card .n{font-size:1.6rem;font-weight:700}
pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
svg text{fill:#1b1b1b;font-size:11px}
figure{margin:1rem 0}
figure svg{max-width:100%;height:auto;display:block}
.k0{color:#0b57a4}.k1{color:#1a7f37}.k2{color:#b35900}.k3{color:#a40000}
)css";

// Live updates (issue 23, item 5): each element with data-live="NAME" shows the field NAME of
// the latest "counters" event from /live; on the queue page (data-live-page) a counters event
// also fetches the page again and swaps in its tables (not for the first event, which only
// says how things stood when the page was made). Every page is complete without this.
const std::string_view kLiveScript = R"js(
(function(){var page=document.querySelector('[data-live-page]');
if(!window.EventSource||!(page||document.querySelector('[data-live]')))return;
var busy=false,first=true;function swap(){if(busy)return;busy=true;fetch(location.href,{credentials:'same-origin'})
.then(function(r){return r.ok?r.text():null;}).then(function(t){busy=false;if(!t)return;
var d=new DOMParser().parseFromString(t,'text/html');document.querySelectorAll('[data-live-page] [id]')
.forEach(function(el){var n=d.getElementById(el.id);if(n&&el.parentNode&&el.closest('form')===null)
el.replaceWith(n);});}).catch(function(){busy=false;});}
var s=new EventSource('/live');s.addEventListener('counters',function(e){var d=JSON.parse(e.data);
document.querySelectorAll('[data-live]').forEach(function(el){var k=el.getAttribute('data-live');
if(k in d)el.textContent=String(d[k]);});if(page&&!first)swap();first=false;});})();
)js";

}  // namespace hato::cli::html
