// metrics.cc - the registry and the Prometheus text exposition format 0.0.4.
//
// Updates are relaxed atomics and never take the registry's lock; only
// registration and render() do. A scrape therefore sees each value as of some
// moment during the scrape, not one instant for all of them, which is what
// every Prometheus client library offers too.
#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/log.h"

namespace hato {

namespace {

// A sample value as Prometheus reads it: integers without a fraction,
// others in the shortest form that reads back as the same double.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";  // cannot happen with 64 bytes
  return std::string(buf, end);
}

// HELP text escapes only backslash and newline (the format's rule).
std::string escape_help(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// name{labels} value, with `extra` (already formatted) appended to the labels.
void append_sample(std::string& out, const std::string& name, const std::string& labels,
                   const std::string& extra, const std::string& value) {
  out += name;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  // +Inf is implicit and NaN has no place among bounds; the rest sorted and
  // unique, since the buckets are cumulative in this order.
  std::erase_if(bounds_, [](double b) { return !std::isfinite(b); });
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size());
  for (size_t i = 0; i < bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // Buckets before the count: a concurrent render reads the count first, so
  // it may see a bucket ahead of the count but never a count ahead of +Inf.
  for (size_t i = bounds_.size(); i-- > 0 && v <= bounds_[i];) {
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  // The sum is kept in whole microseconds so that it can be a lock-free
  // integer; negative observations (none in this program) add nothing.
  if (v > 0) {
    double micros = std::min(v * 1e6, 1e18);
    sum_micros_.fetch_add(static_cast<uint64_t>(micros + 0.5), std::memory_order_relaxed);
  }
}

double Histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& type,
                                                 const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  } else if (it->second.type != type) {
    // A programming error; the sample still renders, under the first type.
    log::error("metric registered twice with different types",
               {{"name", name}, {"type", it->second.type}, {"again_as", type}});
  }
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, "counter", help).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, "gauge", help).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      std::vector<double> bounds, const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = family(name, "histogram", help).histograms[labels];
  // The first registration's bounds win: a histogram's buckets never change.
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void MetricsRegistry::callback(const std::string& name, const char* type, const std::string& help,
                               std::function<double()> fn, const std::string& labels) {
  std::lock_guard lock(mu_);
  // Registering again replaces the function (a restarted component).
  family(name, type, help).callbacks[labels] = std::move(fn);
}

void MetricsRegistry::callback_gauge(const std::string& name, const std::string& help,
                                     std::function<double()> fn, const std::string& labels) {
  callback(name, "gauge", help, std::move(fn), labels);
}

void MetricsRegistry::callback_counter(const std::string& name, const std::string& help,
                                       std::function<double()> fn, const std::string& labels) {
  callback(name, "counter", help, std::move(fn), labels);
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters) {
      append_sample(out, name, labels, "", std::to_string(c->value()));
    }
    for (const auto& [labels, g] : f.gauges) {
      append_sample(out, name, labels, "", std::to_string(g->value()));
    }
    for (const auto& [labels, fn] : f.callbacks) {
      append_sample(out, name, labels, "", format_value(fn ? fn() : 0.0));
    }
    for (const auto& [labels, h] : f.histograms) {
      uint64_t count = h->count();
      uint64_t running = 0;
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        // Cumulative buckets must not decrease, and none may exceed +Inf,
        // whatever an observation racing this scrape has updated so far.
        running = std::max(running, std::min(h->bucket(i), count));
        append_sample(out, name + "_bucket", labels, "le=\"" + format_value(h->bounds()[i]) + "\"",
                      std::to_string(running));
      }
      append_sample(out, name + "_bucket", labels, "le=\"+Inf\"", std::to_string(count));
      append_sample(out, name + "_sum", labels, "", format_value(h->sum()));
      append_sample(out, name + "_count", labels, "", std::to_string(count));
    }
  }
  return out;
}

MetricsRegistry& metrics() {
  // Never destroyed: counters may be bumped by threads still running at exit.
  static MetricsRegistry* registry = new MetricsRegistry;
  return *registry;
}

std::string label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace hato
