// The reference's exp_scaling: each learned scale of the memories (key, value and output
// scales, the leaky-average rate) is exp(10 p) of its parameter p, so that one learning rate
// moves them at a useful speed. Shared by the layers that own such parameters.
#pragma once

namespace mosaic {

inline constexpr double kExpScaling = 10;

}  // namespace mosaic
