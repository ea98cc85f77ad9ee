// json.cc - a recursive-descent JSON reader (RFC 8259) for the CLI.
#include "common/json.h"

#include <charconv>
#include <cstdint>

namespace hato {

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  std::optional<JsonValue> document() {
    JsonValue out;
    if (!value(&out, 0)) return std::nullopt;
    space();
    if (at_ != in_.size()) return std::nullopt;
    return out;
  }

 private:
  void space() {
    while (at_ < in_.size() &&
           (in_[at_] == ' ' || in_[at_] == '\t' || in_[at_] == '\n' || in_[at_] == '\r')) {
      ++at_;
    }
  }

  // Consumes `c` after white space, if it is next.
  bool eat(char c) {
    space();
    if (at_ == in_.size() || in_[at_] != c) return false;
    ++at_;
    return true;
  }

  bool word(std::string_view w) {
    if (in_.substr(at_, w.size()) != w) return false;
    at_ += w.size();
    return true;
  }

  bool value(JsonValue* out, int depth) {
    if (depth > kMaxDepth) return false;
    space();
    if (at_ == in_.size()) return false;
    switch (in_[at_]) {
      case '{':
        ++at_;
        out->kind = JsonValue::Kind::kObject;
        if (eat('}')) return true;
        do {
          JsonMember member;
          space();
          if (!string(&member.key) || !eat(':') || !value(&member.value, depth + 1)) return false;
          out->members.push_back(std::move(member));
        } while (eat(','));
        return eat('}');
      case '[':
        ++at_;
        out->kind = JsonValue::Kind::kArray;
        if (eat(']')) return true;
        do {
          out->items.emplace_back();
          if (!value(&out->items.back(), depth + 1)) return false;
        } while (eat(','));
        return eat(']');
      case '"':
        out->kind = JsonValue::Kind::kString;
        return string(&out->text);
      case 't':
        out->kind = JsonValue::Kind::kBool;
        out->boolean = true;
        return word("true");
      case 'f':
        out->kind = JsonValue::Kind::kBool;
        return word("false");
      case 'n':
        return word("null");
      default:
        return number(out);
    }
  }

  // Checked for form only; kept as written.
  bool number(JsonValue* out) {
    size_t start = at_;
    if (at_ < in_.size() && in_[at_] == '-') ++at_;
    size_t digits = at_;
    while (at_ < in_.size() &&
           ((in_[at_] >= '0' && in_[at_] <= '9') || in_[at_] == '.' || in_[at_] == 'e' ||
            in_[at_] == 'E' || in_[at_] == '+' || (in_[at_] == '-' && at_ > digits))) {
      ++at_;
    }
    if (at_ == digits) return false;
    out->kind = JsonValue::Kind::kNumber;
    out->text.assign(in_.substr(start, at_ - start));
    return true;
  }

  bool hex4(uint32_t* out) {
    if (in_.size() - at_ < 4) return false;
    auto [end, ec] = std::from_chars(in_.data() + at_, in_.data() + at_ + 4, *out, 16);
    if (ec != std::errc() || end != in_.data() + at_ + 4) return false;
    at_ += 4;
    return true;
  }

  static void utf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
      return;
    }
    char buf[4];
    int n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (int i = n - 1; i > 0; --i) {
      buf[i] = static_cast<char>(0x80 | (cp & 0x3F));
      cp >>= 6;
    }
    static constexpr unsigned char kLead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    buf[0] = static_cast<char>(kLead[n] | cp);
    out->append(buf, static_cast<size_t>(n));
  }

  // A string starting at the opening quote.
  bool string(std::string* out) {
    if (at_ == in_.size() || in_[at_] != '"') return false;
    ++at_;
    while (at_ < in_.size()) {
      char c = in_[at_++];
      if (c == '"') return true;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (at_ == in_.size()) return false;
      char e = in_[at_++];
      static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
      if (size_t i = kFrom.find(e); i != std::string_view::npos) {
        *out += kTo[i];
        continue;
      }
      if (e != 'u') return false;
      uint32_t cp = 0;
      if (!hex4(&cp)) return false;
      // A high surrogate pairs with the low one after it; alone, either is U+FFFD.
      if (cp >= 0xD800 && cp < 0xDC00 && word("\\u")) {
        uint32_t low = 0;
        if (!hex4(&low)) return false;
        cp = low >= 0xDC00 && low < 0xE000 ? 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                                           : 0xFFFD;
      } else if (cp >= 0xD800 && cp < 0xE000) {
        cp = 0xFFFD;
      }
      utf8(out, cp);
    }
    return false;
  }

  std::string_view in_;
  size_t at_ = 0;
};

}  // namespace

const JsonValue& JsonValue::operator[](std::string_view key) const {
  static const JsonValue kNull;
  for (const auto& [name, value] : members) {
    if (name == key) return value;
  }
  return kNull;
}

std::optional<JsonValue> parse_json(std::string_view text) {
  return Parser(text).document();
}

}  // namespace hato
