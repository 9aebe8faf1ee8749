#include "bindings/js_values.h"

#include <cstring>

#include "format/constants.h"
#include "util/error.h"

namespace casper {

namespace {
Napi::Value get(const Napi::Object& o, const char* key) { return o.Has(key) ? o.Get(key) : o.Env().Undefined(); }

int64_t int_or(const Napi::Object& o, const char* key, int64_t dflt) {
  Napi::Value v = get(o, key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option '") + key + "' must be a number");
  return v.As<Napi::Number>().Int64Value();
}

bool bool_or(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = get(o, key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return v.ToBoolean().Value();
}

std::vector<std::string> strings(const Napi::Object& o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = get(o, key);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string("option '") + key + "' must be an array");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}
}  // namespace

CompressorConfig compressor_config(const Napi::Object& o) {
  CompressorConfig c;
  Napi::Value name = get(o, "compressor");
  if (!name.IsUndefined()) c.name = name.ToString().Utf8Value();
  int64_t bs = int_or(o, "blockSize", kDefaultBlockSize);
  if (bs < kMinBlockSize || bs > kMaxBlockSize || (bs & (bs - 1)))
    throw NativeError("EINVAL", "block size must be a power of two from 4K to 1M, got " + std::to_string(bs));
  c.block_size = uint32_t(bs);
  Napi::Value opts = get(o, "compressorOptions");
  if (opts.IsObject()) {
    Napi::Object m = opts.As<Napi::Object>();
    Napi::Array keys = m.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string k = keys.Get(i).ToString().Utf8Value();
      c.options[k] = m.Get(k).ToString().Utf8Value();
    }
  }
  return c;
}

ImageOptions image_options(const Napi::Object& o) {
  ImageOptions io;
  io.compressor = compressor_config(o);
  io.block_size = io.compressor.block_size;  // checked by compressor_config
  std::string frag = get(o, "fragments").IsString() ? get(o, "fragments").ToString().Utf8Value() : "default";
  io.fragments = frag == "none"     ? FragmentMode::kNone
                 : frag == "always" ? FragmentMode::kAlways
                                    : FragmentMode::kDefault;
  io.dedup = bool_or(o, "dedup", true);
  io.exports = bool_or(o, "exports", true);
  io.all_root = bool_or(o, "allRoot", false);
  io.force_uid = int_or(o, "forceUid", -1);
  io.force_gid = int_or(o, "forceGid", -1);
  io.mkfs_time = uint32_t(int_or(o, "mkfsTime", 0));
  io.clamp_mtime = int_or(o, "clampMtime", -1);
  io.ignore_errors = bool_or(o, "ignoreErrors", false);
  Napi::Value out = get(o, "outputPath");
  if (out.IsString()) io.output_path = out.ToString().Utf8Value();
  return io;
}

WalkOptions walk_options(const Napi::Object& o) {
  WalkOptions w;
  w.xattrs = bool_or(o, "xattrs", true);
  w.one_file_system = bool_or(o, "oneFileSystem", false);
  w.ignore_errors = bool_or(o, "ignoreErrors", false);
  w.drop_xattr_prefixes = strings(o, "dropXattrPrefixes");
  w.expected_system_xattrs = strings(o, "expectedSystemXattrs");
  auto str = [&](const char* key) {
    Napi::Value v = get(o, key);
    return v.IsString() ? v.ToString().Utf8Value() : std::string();
  };
  w.opaque_xattr = str("opaqueXattr");
  w.redirect_xattr = str("redirectXattr");
  w.merged_root = str("mergedRoot");
  w.data_root = str("dataRoot");
  w.lower_root = str("lowerRoot");
  w.fold_root = str("foldRoot");
  w.beneath_root = str("beneathRoot");
  w.aufs = bool_or(o, "aufs", false);
  w.compare_contents = bool_or(o, "compareContents", false);
  w.exclude = strings(o, "exclude");
  w.empty_dirs = strings(o, "emptyDirs");
  w.truncate = strings(o, "truncate");
  Napi::Value inodes = get(o, "excludeInodes");
  if (inodes.IsArray()) {
    Napi::Array a = inodes.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object p = a.Get(i).As<Napi::Object>();
      w.exclude_inodes.emplace_back(uint64_t(p.Get("dev").ToNumber().Int64Value()),
                                    uint64_t(p.Get("ino").ToNumber().Int64Value()));
    }
  }
  return w;
}

std::pair<const uint8_t*, size_t> bytes_of(const Napi::Value& v) {
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    return {static_cast<const uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  if (v.IsTypedArray()) {
    // napi_get_typedarray_info gives the data pointer directly, which also works for SharedArrayBuffer views.
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    void* data = nullptr;
    napi_value ab;
    if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, &ab, &offset) != napi_ok)
      throw Napi::TypeError::New(v.Env(), "unreadable typed array");
    return {static_cast<const uint8_t*>(data), v.As<Napi::TypedArray>().ByteLength()};
  }
  throw Napi::TypeError::New(v.Env(), "expected an ArrayBuffer or a typed array");
}

void* typed_array_arg(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type, size_t min_elements,
                      const char* what, size_t* length_out) {
  if (length_out) *length_out = 0;
  if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return nullptr;
  const char* wanted = type == napi_int32_array       ? "an Int32Array"
                       : type == napi_uint32_array    ? "a Uint32Array"
                       : type == napi_biguint64_array ? "a BigUint64Array"
                                                      : "a typed array";
  const std::string need =
      std::string(what) + " must be " + wanted + " of at least " + std::to_string(min_elements) + " element(s)";
  if (!info[index].IsTypedArray()) throw Napi::TypeError::New(info.Env(), need);
  napi_typedarray_type got;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value ab;
  if (napi_get_typedarray_info(info.Env(), info[index], &got, &length, &data, &ab, &offset) != napi_ok || got != type ||
      length < min_elements)
    throw Napi::TypeError::New(info.Env(), need);
  if (length_out) *length_out = length;
  return data;
}

Napi::ArrayBuffer to_array_buffer(Napi::Env env, const uint8_t* p, size_t n) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
  if (n) std::memcpy(ab.Data(), p, n);
  return ab;
}

}  // namespace casper
