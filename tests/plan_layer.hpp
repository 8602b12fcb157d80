// Test helper: the activation arena of one layer on its own (models plan theirs for every
// layer at once), sized by the layer's plan() arguments after the prefix.
#pragma once
#include <utility>

#include "core/activations.hpp"

namespace mosaic::testing {

template <class F, class Layer, class... Shape>
Activations<F> plan_layer(Layer& layer, Shape... shape) {
  Activations<F> acts;
  layer.plan(acts, "", shape...);
  acts.allocate();
  return acts;
}

}  // namespace mosaic::testing
