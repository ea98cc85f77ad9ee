// canon.cc - message splitting and RFC 6376 3.4 canonicalization. The body goes to the digest
// in one pass without a copy of the whole: unchanged stretches straight from the message,
// changed lines through a fixed buffer. Finding what relaxed changes is a 16-bytes-at-a-time
// scan, so canonicalizing costs less than hashing the result.
#include "policy/dkim/canon.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/strings.h"
#include "policy/dkim/ossl.h"

namespace hato::dkim {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// The canonical output, handed to `sink` in large pieces: a digest update per word would cost
// more than the hashing. Stretches that canonicalization leaves unchanged (most of a body) are
// passed straight from the message as one span; what it changes is assembled in a buffer.
template <typename Sink>
class Writer {
 public:
  explicit Writer(Sink& sink) : sink_(sink) {}
  ~Writer() {
    settle_span();
    flush();
  }

  // Bytes of the message itself, emitted unchanged.
  void verbatim(const char* p, size_t n) {
    if (span_len_ > 0 && span_ + span_len_ == p) {
      span_len_ += n;
      return;
    }
    settle_span();
    span_ = p;
    span_len_ = n;
  }
  void put(const char* p, size_t n) {
    settle_span();
    copy(p, n);
  }

 private:
  // A short span is cheaper to copy than to hash as an update of its own.
  void settle_span() {
    if (span_len_ == 0) return;
    if (span_len_ >= 512) {
      flush();
      sink_(std::string_view(span_, span_len_));
    } else {
      copy(span_, span_len_);
    }
    span_len_ = 0;
  }
  void copy(const char* p, size_t n) {
    while (n > 0) {
      if (used_ == sizeof(buf_)) flush();
      size_t take = std::min(n, sizeof(buf_) - used_);
      std::memcpy(buf_ + used_, p, take);
      used_ += take;
      p += take;
      n -= take;
    }
  }
  void flush() {
    if (used_ > 0) sink_(std::string_view(buf_, used_));
    used_ = 0;
  }

  Sink& sink_;
  const char* span_ = nullptr;
  size_t span_len_ = 0;
  char buf_[16384];
  size_t used_ = 0;
};

// The first byte in [p, end) that relaxed canonicalization changes: a tab, whitespace right
// after whitespace, and in a header field also a CR (a fold to undo). A lone space is already
// canonical. `prev_wsp` says whether the byte before `p` is whitespace. Bytes up to `readable`
// may be loaded (and ignored), which lets the last partial block be scanned like the others.
template <bool kHeader>
const char* next_irregular(const char* p, const char* end, const char* readable, bool prev_wsp) {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(' ');
  const __m128i tab = _mm_set1_epi8('\t');
  const __m128i cr = _mm_set1_epi8('\r');
  unsigned carry = prev_wsp ? 1 : 0;
  while (p < end && readable - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned tabs = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, tab)));
    unsigned wsp = tabs | static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)));
    unsigned bad = tabs | (wsp & ((wsp << 1) | carry));
    if (kHeader) bad |= static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, cr)));
    if (end - p < 16) bad &= (1u << (end - p)) - 1;
    if (bad != 0) return p + __builtin_ctz(bad);
    if (end - p <= 16) return end;
    carry = (wsp >> 15) & 1;
    p += 16;
  }
  prev_wsp = carry != 0;
#else
  (void)readable;
#endif
  for (; p < end; ++p) {
    bool wsp = is_wsp(*p);
    if (*p == '\t' || (wsp && prev_wsp) || (kHeader && *p == '\r')) return p;
    prev_wsp = wsp;
  }
  return end;
}

// Simple: the body as is, with the empty lines at its end removed and a final CRLF ensured; an
// empty body is one CRLF.
template <typename Sink>
void simple_body(std::string_view body, Sink& sink) {
  size_t end = body.size();
  while (end >= 4 && body.substr(end - 4, 4) == "\r\n\r\n") end -= 2;
  if (end == 2 && body.substr(0, 2) == "\r\n") end = 0;
  if (end == 0) {
    sink(std::string_view("\r\n"));
    return;
  }
  sink(body.substr(0, end));
  if (end < 2 || body.substr(end - 2, 2) != "\r\n") sink(std::string_view("\r\n"));
}

// Relaxed: whitespace at line ends dropped, inner runs of it reduced to one space, empty lines
// at the end dropped; an empty result stays empty.
template <typename Sink>
void relaxed_body(std::string_view body, Sink& sink) {
  Writer<Sink> out(sink);
  // Empty lines are held back until a non-empty one follows. While all of them are a bare CRLF
  // they are the message's own bytes, starting at `empty_start`.
  uint64_t pending_empty = 0;
  bool empty_verbatim = true;
  const char* empty_start = nullptr;
  const char* body_end = body.data() + body.size();
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    bool has_crlf = eol != std::string_view::npos;
    const char* p = body.data() + pos;
    const char* line_end = body.data() + (has_crlf ? eol : body.size());
    pos = has_crlf ? eol + 2 : body.size();
    const char* end = line_end;
    while (end > p && is_wsp(end[-1])) --end;
    if (p == end) {
      if (pending_empty++ == 0) {
        empty_start = p;
        empty_verbatim = true;
      }
      empty_verbatim = empty_verbatim && line_end == p && has_crlf;
      continue;
    }
    if (pending_empty > 0) {
      if (empty_verbatim) {
        out.verbatim(empty_start, 2 * pending_empty);
      } else {
        for (; pending_empty > 0; --pending_empty) out.put("\r\n", 2);
      }
      pending_empty = 0;
    }
    const char* q = p;
    while (true) {
      const char* r = next_irregular<false>(q, end, body_end, q > p && is_wsp(q[-1]));
      if (r == end) break;
      // A tab that starts a run becomes the run's one space; after a space kept as it is,
      // the rest of the run goes.
      out.verbatim(q, static_cast<size_t>(r - q));
      if (!(r > p && is_wsp(r[-1]))) out.put(" ", 1);
      while (is_wsp(*r)) ++r;  // stops before `end`: trailing whitespace is already cut
      q = r;
    }
    if (end == line_end && has_crlf) {
      out.verbatim(q, static_cast<size_t>(end - q) + 2);  // the line's own CRLF with it
    } else {
      out.verbatim(q, static_cast<size_t>(end - q));
      out.put("\r\n", 2);
    }
  }
}

template <typename Sink>
void canonicalize_body(Canon canon, std::string_view body, Sink& sink) {
  if (canon == Canon::kSimple) {
    simple_body(body, sink);
  } else {
    relaxed_body(body, sink);
  }
}

}  // namespace

ParsedMessage parse_message(std::string_view m) {
  ParsedMessage parsed;
  parsed.fields.reserve(32);
  size_t pos = 0;
  while (pos < m.size()) {
    if (m.substr(pos, 2) == "\r\n") {
      parsed.body = m.substr(pos + 2);
      return parsed;
    }
    size_t start = pos;
    size_t end;
    while (true) {  // a field runs on while the next line starts with whitespace
      size_t eol = m.find("\r\n", pos);
      if (eol == std::string_view::npos) {
        end = pos = m.size();
        break;
      }
      pos = eol + 2;
      if (pos < m.size() && is_wsp(m[pos])) continue;
      end = eol;
      break;
    }
    std::string_view raw = m.substr(start, end - start);
    std::string_view name;
    size_t colon = raw.find(':');
    if (colon != std::string_view::npos) {
      name = raw.substr(0, colon);
      while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
      // A name that spans a line break or is empty matches nothing.
      if (name.find_first_of("\r\n \t") != std::string_view::npos) name = {};
    }
    parsed.fields.push_back(HeaderField{name, raw});
  }
  return parsed;
}

void append_canonical_header(Canon canon, std::string_view raw, std::string& out) {
  if (canon == Canon::kSimple) {
    out += raw;
    return;
  }
  // Relaxed output is never longer than the field: write in place, then cut to size.
  size_t base = out.size();
  out.resize(base + raw.size() + 1);
  char* o = out.data() + base;
  size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  for (char c : name) *o++ = to_lower(c);
  if (colon != std::string_view::npos) {
    *o++ = ':';
    const char* p = raw.data() + colon + 1;
    const char* end = raw.data() + raw.size();
    auto is_fold = [&](const char* x) { return x[0] == '\r' && x + 1 < end && x[1] == '\n'; };
    // Whitespace and folds at either end of the value go.
    while (p < end && (is_wsp(*p) || is_fold(p))) p += is_wsp(*p) ? 1 : 2;
    while (end > p) {
      if (is_wsp(end[-1])) {
        --end;
      } else if (end - p >= 2 && end[-2] == '\r' && end[-1] == '\n') {
        end -= 2;
      } else {
        break;
      }
    }
    const char* q = p;
    while (q < end) {
      const char* r = next_irregular<true>(q, end, end, q > p && is_wsp(q[-1]));
      std::memcpy(o, q, static_cast<size_t>(r - q));
      o += r - q;
      if (r == end) break;
      if (*r == '\r' && !is_fold(r)) {  // a bare CR is an ordinary octet
        *o++ = *r;
        q = r + 1;
        continue;
      }
      // Unfolding removes each CRLF; what whitespace remains of the run becomes one space.
      bool wsp = false;
      while (r < end && (is_wsp(*r) || is_fold(r))) {
        wsp = wsp || is_wsp(*r);
        r += is_wsp(*r) ? 1 : 2;
      }
      if (wsp && o[-1] != ' ') *o++ = ' ';
      q = r;
    }
  }
  out.resize(static_cast<size_t>(o - out.data()));
}

std::vector<const HeaderField*> select_headers(const std::vector<HeaderField>& fields,
                                               const std::vector<std::string>& names) {
  std::vector<const HeaderField*> selected;
  selected.reserve(names.size());
  std::vector<bool> used(fields.size(), false);
  for (const auto& name : names) {
    const HeaderField* pick = nullptr;
    for (size_t i = fields.size(); i-- > 0;) {
      if (!used[i] && !fields[i].name.empty() && iequals(fields[i].name, name)) {
        used[i] = true;
        pick = &fields[i];
        break;
      }
    }
    selected.push_back(pick);
  }
  return selected;
}

std::string body_hash(Canon canon, std::string_view body, std::optional<uint64_t> limit,
                      uint64_t* canonical_length) {
  ossl::MdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), ossl::sha256_md(), nullptr);
  uint64_t total = 0;
  auto sink = [&](std::string_view piece) {
    uint64_t before = total;
    total += piece.size();
    if (limit) {
      if (before >= *limit) return;
      piece =
          piece.substr(0, static_cast<size_t>(std::min<uint64_t>(piece.size(), *limit - before)));
    }
    EVP_DigestUpdate(ctx.get(), piece.data(), piece.size());
  };
  canonicalize_body(canon, body, sink);
  if (canonical_length) *canonical_length = total;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string canonical_body(Canon canon, std::string_view body) {
  std::string out;
  auto sink = [&](std::string_view piece) { out += piece; };
  canonicalize_body(canon, body, sink);
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, ossl::sha256_md(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace hato::dkim
