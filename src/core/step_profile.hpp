// Wall time per named part of a training step, for `mosaic bench train`'s per-layer
// breakdown. Off unless a model is handed one (a null profile costs one branch per layer);
// parts of the same name in different blocks add up. Only the thread that drives the step
// records (layers parallelise inside themselves), so there is no locking.
#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace mosaic {

class StepProfile {
 public:
  // Adds ms to the part's forward or backward total (parts keep their first-seen order).
  void add(const char* part, bool backward, double ms) {
    for (auto& p : parts_)
      if (p.name == part) {
        (backward ? p.backward_ms : p.forward_ms) += ms;
        return;
      }
    parts_.push_back({part, backward ? 0 : ms, backward ? ms : 0});
  }
  struct Part {
    std::string name;
    double forward_ms = 0, backward_ms = 0;
  };
  const std::vector<Part>& parts() const { return parts_; }
  void clear() { parts_.clear(); }

 private:
  std::vector<Part> parts_;
};

// Times its own lifetime into profile (when not null).
class ProfileScope {
 public:
  ProfileScope(StepProfile* profile, const char* part, bool backward)
      : profile_(profile), part_(part), backward_(backward) {
    if (profile_) t0_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (profile_)
      profile_->add(part_, backward_,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count());
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  StepProfile* profile_;
  const char* part_;
  bool backward_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace mosaic
