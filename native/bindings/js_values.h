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
// Bytes of an ArrayBuffer or a typed array view.
std::pair<const uint8_t*, size_t> bytes_of(const Napi::Value& v);
Napi::ArrayBuffer to_array_buffer(Napi::Env env, const uint8_t* p, size_t n);

}  // namespace casper
