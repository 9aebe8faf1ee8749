#include "util/error.h"

#include <new>

namespace casper {

// Names for the errno values a tree walk or an output write can meet; others fall back to "EIO"-style text.
const char* errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case EROFS: return "EROFS";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EFBIG: return "EFBIG";
    case ECANCELED: return "ECANCELED";
    case ENODATA: return "ENODATA";
    case ENOTSUP: return "ENOTSUP";
    case ESTALE: return "ESTALE";
    case EBADF: return "EBADF";
    case EXDEV: return "EXDEV";
    default: return "EUNKNOWN";
  }
}

std::unique_ptr<NativeError> capture_error(const std::function<void()>& fn) {
  try {
    fn();
    return nullptr;
  } catch (const NativeError& e) {
    return std::make_unique<NativeError>(e);
  } catch (const std::bad_alloc&) {
    return std::make_unique<NativeError>("ENOMEM", "out of memory");
  } catch (const std::exception& e) {
    return std::make_unique<NativeError>("EINTERNAL", std::string("internal error: ") + e.what());
  }
}

}  // namespace casper
