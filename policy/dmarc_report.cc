// dmarc_report.cc - an aggregate report's XML read with libxml2, hardened (dmarc_report.h),
// and its records counted per source.
#include "policy/dmarc_report.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <charconv>
#include <ctime>
#include <memory>
#include <mutex>

#include "common/net.h"
#include "common/strings.h"

namespace hato::policy::dmarc_report {

namespace {

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

// Strangers' text: bounded, trimmed.
std::string text_of(const xmlNode* node) {
  std::string out;
  for (const xmlNode* c = node->children; c; c = c->next) {
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
      out += reinterpret_cast<const char*>(c->content);
    if (out.size() > 1024) break;
  }
  return std::string(trim(out.substr(0, 1024)));
}

bool named(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, BAD_CAST name) == 0;
}

const xmlNode* child(const xmlNode* node, const char* name) {
  if (!node) return nullptr;
  for (const xmlNode* c = node->children; c; c = c->next) {
    if (named(c, name)) return c;
  }
  return nullptr;
}

std::string child_text(const xmlNode* node, const char* name) {
  const xmlNode* c = child(node, name);
  return c ? text_of(c) : "";
}

template <typename T>
bool number(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// Our own depth check over the whole tree (libxml2's limit is 256; a report needs 5).
bool too_deep(const xmlNode* node, int depth) {
  if (depth > kMaxDepth) return true;
  for (const xmlNode* c = node->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && too_deep(c, depth + 1)) return true;
  }
  return false;
}

Status read_metadata(const xmlNode* root, Report* r) {
  const xmlNode* meta = child(root, "report_metadata");
  r->org_name = child_text(meta, "org_name");
  r->email = child_text(meta, "email");
  r->report_id = child_text(meta, "report_id");
  const xmlNode* range = child(meta, "date_range");
  if (!meta || r->org_name.empty() || r->report_id.empty())
    return Status::error("report_metadata without org_name or report_id");
  if (!number(child_text(range, "begin"), &r->begin) || !number(child_text(range, "end"), &r->end))
    return Status::error("date_range without a numeric begin and end");
  const xmlNode* policy = child(root, "policy_published");
  r->domain = ascii_lower(child_text(policy, "domain"));
  if (r->domain.empty() || r->domain.find_first_of("/ ") != std::string::npos)
    return Status::error("policy_published without a domain");
  r->p = child_text(policy, "p");
  r->adkim = child_text(policy, "adkim");
  r->aspf = child_text(policy, "aspf");
  std::string pct = child_text(policy, "pct");
  if (!pct.empty() && !number(pct, &r->pct)) return Status::error("pct is not a number");
  return Status::ok();
}

std::vector<AuthResult> auth_results(const xmlNode* results, const char* kind) {
  std::vector<AuthResult> out;
  if (!results) return out;
  for (const xmlNode* c = results->children; c; c = c->next) {
    if (!named(c, kind)) continue;
    out.push_back({ascii_lower(child_text(c, "domain")), child_text(c, "selector"),
                   child_text(c, "scope"), ascii_lower(child_text(c, "result"))});
  }
  return out;
}

Status read_record(const xmlNode* node, Record* rec) {
  const xmlNode* row = child(node, "row");
  std::string ip = child_text(row, "source_ip");
  auto address = SocketAddress::parse(ip, 0);
  if (ip.empty() || ip.find_first_of("[]:") == 0 || !address)
    return Status::error("record without a valid source_ip: " + ip.substr(0, 64));
  rec->source_ip = address->ip();  // one spelling per address (IPv6 compressed, lower case)
  if (!number(child_text(row, "count"), &rec->count))
    return Status::error("record without a numeric count");
  const xmlNode* evaluated = child(row, "policy_evaluated");
  rec->disposition = ascii_lower(child_text(evaluated, "disposition"));
  rec->dkim = ascii_lower(child_text(evaluated, "dkim"));
  rec->spf = ascii_lower(child_text(evaluated, "spf"));
  for (const xmlNode* c = evaluated ? evaluated->children : nullptr; c; c = c->next) {
    if (named(c, "reason"))
      rec->reasons.emplace_back(child_text(c, "type"), child_text(c, "comment"));
  }
  rec->header_from = ascii_lower(child_text(child(node, "identifiers"), "header_from"));
  const xmlNode* results = child(node, "auth_results");
  rec->dkim_results = auth_results(results, "dkim");
  rec->spf_results = auth_results(results, "spf");
  return Status::ok();
}

Result<Report> read_feedback(const xmlNode* root) {
  if (!root || !named(root, "feedback")) return Status::error("the root element is not feedback");
  if (too_deep(root, 1)) return Status::error("elements nested too deep");
  Report r;
  if (Status s = read_metadata(root, &r); !s) return s;
  for (const xmlNode* c = root->children; c; c = c->next) {
    if (!named(c, "record")) continue;
    if (r.records.size() >= kMaxRecords) return Status::error("too many records");
    Record rec;
    if (Status s = read_record(c, &rec); !s) return s;
    r.records.push_back(std::move(rec));
  }
  return r;
}

// Hato reads no XML but reports: no external entity or DTD is ever fetched, whatever
// the options of a parse (the loader is process-wide in libxml2).
xmlParserInputPtr refuse_external(const char*, const char*, xmlParserCtxtPtr) {
  return nullptr;
}

}  // namespace

Result<Report> parse_xml(std::string_view xml) {
  if (xml.size() > kMaxReportBytes) return Status::error("XML larger than the limit");
  // A report has no DTD; refusing one here means no entity is ever declared, let alone
  // expanded or fetched.
  if (xml.find("<!DOCTYPE") != std::string_view::npos ||
      xml.find("<!ENTITY") != std::string_view::npos)
    return Status::error("XML with a DTD or entity declaration (refused)");
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    xmlSetExternalEntityLoader(refuse_external);
  });
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return Status::error("libxml2 would not start");
  // No XML_PARSE_NOENT (substitution), DTDLOAD, DTDATTR or HUGE; NONET for good measure.
  int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
  std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadMemory(
      ctxt.get(), xml.data(), static_cast<int>(xml.size()), "report.xml", nullptr, options));
  if (!doc) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e && e->message ? e->message : "unknown error";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return Status::error("not well-formed XML: " + why);
  }
  if (doc->intSubset || doc->extSubset) return Status::error("XML with a DTD (refused)");
  return read_feedback(xmlDocGetRootElement(doc.get()));
}

Result<Report> read_message(std::string_view message) {
  auto xml = find_report(message);
  if (!xml) return xml.status();
  return parse_xml(*xml);
}

void Counts::add(const Counts& o) {
  messages += o.messages;
  none += o.none;
  quarantine += o.quarantine;
  reject += o.reject;
  spf_pass += o.spf_pass;
  spf_fail += o.spf_fail;
  dkim_pass += o.dkim_pass;
  dkim_fail += o.dkim_fail;
  dmarc_pass += o.dmarc_pass;
  dmarc_fail += o.dmarc_fail;
}

std::string Counts::serialize() const {
  std::string out;
  for (uint64_t n : {messages, none, quarantine, reject, spf_pass, spf_fail, dkim_pass, dkim_fail,
                     dmarc_pass, dmarc_fail}) {
    if (!out.empty()) out += ' ';
    out += std::to_string(n);
  }
  return out;
}

bool Counts::parse(std::string_view text, Counts* out) {
  uint64_t* fields[] = {&out->messages,   &out->none,      &out->quarantine, &out->reject,
                        &out->spf_pass,   &out->spf_fail,  &out->dkim_pass,  &out->dkim_fail,
                        &out->dmarc_pass, &out->dmarc_fail};
  for (size_t i = 0; i < std::size(fields); ++i) {
    size_t space = text.find(' ');
    if ((space == std::string_view::npos) != (i + 1 == std::size(fields))) return false;
    if (!number(text.substr(0, space), fields[i])) return false;
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
  return true;
}

std::map<std::string, Counts> counts_by_source(const Report& report) {
  std::map<std::string, Counts> out;
  for (const Record& rec : report.records) {
    Counts c;
    c.messages = rec.count;
    if (rec.disposition == "quarantine") {
      c.quarantine = rec.count;
    } else if (rec.disposition == "reject") {
      c.reject = rec.count;
    } else {
      c.none = rec.count;
    }
    bool spf = rec.spf == "pass", dkim = rec.dkim == "pass";
    (spf ? c.spf_pass : c.spf_fail) = rec.count;
    (dkim ? c.dkim_pass : c.dkim_fail) = rec.count;
    (spf || dkim ? c.dmarc_pass : c.dmarc_fail) = rec.count;
    out[rec.source_ip].add(c);
  }
  return out;
}

std::string utc_day(int64_t seconds) {
  time_t t = static_cast<time_t>(seconds);
  tm parts{};
  gmtime_r(&t, &parts);
  char buf[16];
  strftime(buf, sizeof buf, "%Y-%m-%d", &parts);
  return buf;
}

}  // namespace hato::policy::dmarc_report
