// psl.cc - loading the Public Suffix List and finding public suffixes (the algorithm of
// publicsuffix.org/list: the exception rule wins, else the longest matching rule, else "*").
#include "policy/dmarc/psl.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/strings.h"

namespace hato::dmarc {

namespace {

// Splits "a.b.c" into {"a", "b", "c"}.
std::vector<std::string_view> labels_of(std::string_view domain) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos) dot = domain.size();
    labels.push_back(domain.substr(start, dot - start));
    start = dot + 1;
  }
  return labels;
}

// The last `n` labels joined with dots.
std::string join_last(const std::vector<std::string_view>& labels, size_t n) {
  std::string out;
  for (size_t i = labels.size() - n; i < labels.size(); ++i) {
    if (!out.empty()) out += '.';
    out += labels[i];
  }
  return out;
}

// UTF-8 to code points; false on a malformed sequence.
bool decode_utf8(std::string_view s, std::vector<uint32_t>* out) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int extra = c < 0x80           ? 0
                : (c >> 5) == 0x6  ? 1
                : (c >> 4) == 0xE  ? 2
                : (c >> 3) == 0x1E ? 3
                                   : -1;
    if (extra < 0 || s.size() - i <= static_cast<size_t>(extra)) return false;
    uint32_t cp = extra == 0 ? c : c & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    out->push_back(cp);
    i += 1 + extra;
  }
  return true;
}

// RFC 3492 6.1.
uint32_t adapt_bias(uint32_t delta, uint32_t points, bool first) {
  constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26, kSkew = 38, kDamp = 700;
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / points;
  uint32_t k = 0;
  while (delta > ((kBase - kTmin) * kTmax) / 2) {
    delta /= kBase - kTmin;
    k += kBase;
  }
  return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
}

char punycode_digit(uint32_t d) {
  return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

}  // namespace

std::string punycode_label(std::string_view utf8_label) {
  std::vector<uint32_t> input;
  if (!decode_utf8(utf8_label, &input)) return "";
  std::string basic;
  for (uint32_t cp : input)
    if (cp < 0x80) basic += static_cast<char>(cp);
  if (basic.size() == input.size()) return std::string(utf8_label);

  // RFC 3492 6.3. Labels are short, but the overflow check costs nothing.
  constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26;
  std::string out = basic;
  if (!basic.empty()) out += '-';
  uint32_t n = 0x80, delta = 0, bias = 72;
  size_t h = basic.size();
  const size_t b = basic.size();
  while (h < input.size()) {
    uint32_t m = UINT32_MAX;
    for (uint32_t cp : input)
      if (cp >= n && cp < m) m = cp;
    uint64_t step = static_cast<uint64_t>(m - n) * (h + 1);
    if (step + delta > UINT32_MAX) return "";
    delta += static_cast<uint32_t>(step);
    n = m;
    for (uint32_t cp : input) {
      if (cp < n) ++delta;
      if (cp != n) continue;
      uint32_t q = delta;
      for (uint32_t k = kBase;; k += kBase) {
        uint32_t t = k <= bias ? kTmin : k >= bias + kTmax ? kTmax : k - bias;
        if (q < t) break;
        out += punycode_digit(t + (q - t) % (kBase - t));
        q = (q - t) / (kBase - t);
      }
      out += punycode_digit(q);
      bias = adapt_bias(delta, static_cast<uint32_t>(h + 1), h == b);
      delta = 0;
      ++h;
    }
    ++delta;
    ++n;
  }
  return "xn--" + out;
}

std::string normalize_domain(std::string_view domain) {
  std::string out = ascii_lower(domain);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

Result<std::shared_ptr<const PublicSuffixList>> PublicSuffixList::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Result<std::shared_ptr<const PublicSuffixList>>::error("cannot read " + path + ": " +
                                                                  std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  auto list = parse(text.str());
  if (list->size() == 0)
    return Result<std::shared_ptr<const PublicSuffixList>>::error(path + " has no rules");
  return list;
}

std::shared_ptr<const PublicSuffixList> PublicSuffixList::parse(std::string_view text) {
  auto list = std::make_shared<PublicSuffixList>();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    // The rule is the line up to the first white space; "//" starts a comment line.
    size_t end = line.find_first_of(" \t\r");
    if (end != std::string_view::npos) line = line.substr(0, end);
    if (line.empty() || line.starts_with("//")) continue;
    list->add_rule(line);
  }
  return list;
}

void PublicSuffixList::add_rule(std::string_view rule) {
  std::string_view mark;
  if (rule.starts_with('!')) {
    mark = "!";
    rule.remove_prefix(1);
  }
  std::string ascii(mark);
  bool first = true;
  for (std::string_view label : labels_of(rule)) {
    if (!first) ascii += '.';
    first = false;
    std::string a = label == "*" ? std::string("*") : punycode_label(label);
    if (a.empty()) return;  // not UTF-8: no name can match it
    ascii += normalize_domain(a);
  }
  rules_.insert(std::move(ascii));
}

std::string PublicSuffixList::public_suffix(std::string_view domain) const {
  std::string name = normalize_domain(domain);
  if (name.empty()) return "";
  std::vector<std::string_view> labels = labels_of(name);
  const size_t n = labels.size();
  // An exception rule "!www.ck" makes the suffix its own name less the first label.
  for (size_t k = n; k >= 2; --k) {
    if (rules_.count("!" + join_last(labels, k))) return join_last(labels, k - 1);
  }
  // The longest rule that matches, a wildcard standing for any one label; "*" at least.
  for (size_t k = n; k >= 2; --k) {
    if (rules_.count(join_last(labels, k)) || rules_.count("*." + join_last(labels, k - 1)))
      return join_last(labels, k);
  }
  return join_last(labels, 1);
}

std::string PublicSuffixList::organizational_domain(std::string_view domain) const {
  std::string name = normalize_domain(domain);
  std::string suffix = public_suffix(name);
  if (suffix.size() >= name.size()) return name;
  // One more label to the left of the suffix.
  std::string_view rest(name.data(), name.size() - suffix.size() - 1);
  size_t dot = rest.rfind('.');
  return std::string(dot == std::string_view::npos ? rest : rest.substr(dot + 1)) + "." + suffix;
}

}  // namespace hato::dmarc
