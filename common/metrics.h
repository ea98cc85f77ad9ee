// metrics.h - counters, gauges and histograms in the Prometheus text format.
//
// Metrics are registered once (by name and label set) and updated lock-free
// from any thread; render() writes the exposition text for /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hato {

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // cumulative counts per bound
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

class MetricsRegistry {
 public:
  // `labels` in exposition form without braces: listener="submission".
  Counter& counter(const std::string& name, const std::string& help,
                   const std::string& labels = "");
  Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                       const std::string& labels = "");
  // A gauge computed when scraped (queue sizes, oldest message age).
  void callback_gauge(const std::string& name, const std::string& help, std::function<double()> fn,
                      const std::string& labels = "");
  // A counter kept elsewhere (the store's commit counts), read when scraped.
  void callback_counter(const std::string& name, const std::string& help,
                        std::function<double()> fn, const std::string& labels = "");
  std::string render() const;

 private:
  struct Family {
    std::string type;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::map<std::string, std::function<double()>> callbacks;
  };
  Family& family(const std::string& name, const std::string& type, const std::string& help);
  void callback(const std::string& name, const char* type, const std::string& help,
                std::function<double()> fn, const std::string& labels);
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// The process's registry.
MetricsRegistry& metrics();

// Escapes a label value for the exposition format.
std::string label_value(const std::string& v);

}  // namespace hato
