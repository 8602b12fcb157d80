// Memory files (`mosaic sample --save-memory / --load-memory`): a Memory Mosaic stream's whole
// state as safetensors, the tensors of core/stream_state.hpp (every layer's extractor states,
// pending keys, delay rings, stores and their HNSW graphs) under the names of the parameters
// that made them, with metadata naming the model (its config and a hash of its weights) and the
// memory's bound. Written atomically; read back with the model, the bound, every shape and every
// value checked (finite floats). Not a checkpoint (model_io.hpp): no weights.
#pragma once
#include <string>

#include "models/language_model.hpp"

namespace mosaic {

// The "format" metadata of memory files.
inline constexpr const char* kMemoryFileFormat = "mosaic-memory-1";

// A 64-bit hash of the model's weights (every parameter's bytes, in table order), as hex.
std::string weights_hash(const LanguageModel<float>& model);

// Writes the stream's state to `path` (atomically). limit: the bound the stream was opened with.
// Error with a hint for a GPT stream or a non-finite value.
void save_memory_file(const std::string& path, const LanguageModel<float>& model, const ModelStream<float>& stream,
                      const MemoryLimit& limit);
// Replaces the stream's state with the file's. Error with a hint when the file is not a memory
// file, is damaged, was written for another model or weights or under another bound, or holds a
// non-finite value; the stream is then left empty.
void load_memory_file(const std::string& path, const LanguageModel<float>& model, ModelStream<float>& stream,
                      const MemoryLimit& limit);

}  // namespace mosaic
