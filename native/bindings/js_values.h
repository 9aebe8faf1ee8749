// Reading options and buffers from JS values, with TypeErrors that name the offending option.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "compress/compressor.h"
#include "image/image_options.h"
#include "traverse/walker.h"

namespace casper {

CompressorConfig compressor_config(const Napi::Object& o);
ImageOptions image_options(const Napi::Object& o);
WalkOptions walk_options(const Napi::Object& o);
// Bytes of an ArrayBuffer or a typed array view (data to read: any element type).
std::pair<const uint8_t*, size_t> bytes_of(const Napi::Value& v);
// An optional typed-array argument that native code reads or writes while it runs (a cancel flag, progress
// counters, entry indices): its elements (their number in *length), or nullptr when info[index] is absent,
// undefined or null. Anything else (another value, another element type, fewer than min_elements) is a
// TypeError naming `what`. The caller keeps the array alive (AsyncJob's `held`, an ObjectReference) for as
// long as the pointer is used.
void* typed_array_arg(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type, size_t min_elements,
                      const char* what, size_t* length = nullptr);
Napi::ArrayBuffer to_array_buffer(Napi::Env env, const uint8_t* p, size_t n);

}  // namespace casper
