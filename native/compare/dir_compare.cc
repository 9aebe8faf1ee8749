#include "compare/dir_compare.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "util/error.h"
#include "util/fd.h"
#include "util/same_bytes.h"

namespace casper {

int CompareSide::open_file(const SideEntry&) {
  errno = ENOTSUP;
  return -1;
}

namespace {

const char* type_name(uint16_t basic) {
  switch (basic) {
    case kDir: return "directory";
    case kFile: return "regular file";
    case kSymlink: return "symbolic link";
    case kBlockDev: return "block special file";
    case kCharDev: return "character special file";
    case kFifo: return "fifo";
    default: return "socket";
  }
}

std::string octal(unsigned v) {
  char b[16];
  std::snprintf(b, sizeof b, "%04o", v);
  return b;
}

std::string xattr_text(const std::map<std::string, std::string>& m) {
  std::string s;
  for (auto& [k, v] : m) s += (s.empty() ? "" : ",") + k;
  return s.empty() ? "(none)" : s;
}

std::string child_path(const std::string& dir, const std::string& name) { return (dir == "/" ? "" : dir) + "/" + name; }

struct Comparer {
  CompareSide& a;
  CompareSide& b;
  const CompareOptions& o;
  std::vector<TreeDifference>& out;
  std::vector<std::string>& mounts;
  // Hard links: every non-directory present on both sides, with its identity on each.
  struct Linked {
    std::string rel;
    std::pair<uint64_t, uint64_t> ia, ib;
  };
  std::vector<Linked> linked;

  bool on(const char* field) const { return o.ignore.count(field) == 0; }
  void add(const std::string& rel, const std::string& kind, const std::string& va, const std::string& vb,
           const std::string& line) {
    out.push_back(TreeDifference{rel, kind, va, vb, line});
  }
  void field(const std::string& rel, const char* kind, const char* label, const std::string& va,
             const std::string& vb) {
    if (va == vb) return;
    add(rel, kind, va, vb, std::string(label) + " differ: " + a.label(rel) + " " + va + ", " + b.label(rel) + " " + vb);
  }
  void unreadable(CompareSide& s, const std::string& rel, const char* what, int err) {
    add(rel, "unreadable", "", std::strerror(err),
        std::string("Cannot ") + what + " " + s.label(rel) + ": " + std::strerror(err));
  }

  // Reads a regular file on both sides; false at the first byte that differs (or when one cannot be read).
  bool same_content(const std::string& rel, const SideEntry& ea, const SideEntry& eb) {
    Fd fa(a.open_file(ea));
    if (!fa.valid()) return unreadable(a, rel, "read", errno), true;
    Fd fb(b.open_file(eb));
    if (!fb.valid()) return unreadable(b, rel, "read", errno), true;
    try {
      return same_range(fa.get(), 0, a.label(rel), fb.get(), 0, b.label(rel), kToTheEnd, &o.cancel);
    } catch (const NativeError& e) {
      if (e.code == "ECANCELED") throw;
      add(rel, "unreadable", "", e.what(),
          std::string("Cannot read: ") + e.what());  // an I/O error: listed, the rest goes on
      return true;
    }
  }

  // Compares one entry present on both sides; returns true when both are directories (to descend).
  bool entry(const std::string& rel, const SideEntry* ea, const SideEntry* eb) {
    if (o.progress) __atomic_add_fetch(o.progress, 1, __ATOMIC_RELAXED);
    EntryAttrs x, y;
    if (int err = a.attrs(ea, x)) return unreadable(a, rel, "stat", err), false;
    if (int err = b.attrs(eb, y)) return unreadable(b, rel, "stat", err), false;
    if (x.basic != y.basic) {
      add(rel, "type", type_name(x.basic), type_name(y.basic),
          "File " + a.label(rel) + " is a " + type_name(x.basic) + " while file " + b.label(rel) + " is a " +
              type_name(y.basic));
      return false;
    }
    if (on("mode")) field(rel, "mode", "Modes", octal(x.mode), octal(y.mode));
    if (on("owner")) {
      field(rel, "owner", "Owners", std::to_string(x.uid), std::to_string(y.uid));
      field(rel, "group", "Groups", std::to_string(x.gid), std::to_string(y.gid));
    }
    if (on("mtime")) field(rel, "mtime", "Modification times", std::to_string(x.mtime), std::to_string(y.mtime));
    if (on("xattrs") && x.xattrs != y.xattrs) {
      std::string keys;
      for (auto& [k, v] : x.xattrs)
        if (!y.xattrs.count(k) || y.xattrs[k] != v) keys += (keys.empty() ? "" : ",") + k;
      for (auto& [k, v] : y.xattrs)
        if (!x.xattrs.count(k)) keys += (keys.empty() ? "" : ",") + k;
      add(rel, "xattrs", xattr_text(x.xattrs), xattr_text(y.xattrs),
          "Extended attributes differ (" + printable(keys) + "): " + a.label(rel) + ", " + b.label(rel));
    }
    switch (x.basic) {
      case kDir: return true;
      case kFile:
        if (!on("content")) break;
        if (x.size != y.size) {
          add(rel, "content", std::to_string(x.size), std::to_string(y.size),
              "Files " + a.label(rel) + " and " + b.label(rel) + " differ (" + std::to_string(x.size) + " and " +
                  std::to_string(y.size) + " bytes)");
        } else if (o.defer_content) {
          o.defer_content(rel, *ea, *eb, y.identity);
        } else if ((!o.content_filter || o.content_filter->count(rel)) && !same_content(rel, *ea, *eb)) {
          add(rel, "content", "", "", "Files " + a.label(rel) + " and " + b.label(rel) + " differ");
        }
        break;
      case kSymlink:
        if (x.target != y.target)
          add(rel, "symlink", x.target, y.target,
              "Symbolic links " + a.label(rel) + " -> " + printable(x.target) + " and " + b.label(rel) + " -> " +
                  printable(y.target) + " differ");
        break;
      case kBlockDev:
      case kCharDev:
        field(rel, "device", "Device numbers", std::to_string(x.dev_major) + ":" + std::to_string(x.dev_minor),
              std::to_string(y.dev_major) + ":" + std::to_string(y.dev_minor));
        break;
      default: break;
    }
    linked.push_back({rel, x.identity, y.identity});
    return false;
  }

  void links() {
    if (!on("links")) return;
    std::map<std::pair<uint64_t, uint64_t>, std::vector<const std::string*>> by_a, by_b;
    for (auto& l : linked) {
      by_a[l.ia].push_back(&l.rel);
      by_b[l.ib].push_back(&l.rel);
    }
    auto names = [](const std::vector<const std::string*>& v, const std::string& self) {
      std::vector<std::string> s;
      for (const std::string* x : v)
        if (*x != self) s.push_back(*x);
      std::sort(s.begin(), s.end());
      return s;
    };
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (auto& x : v) s += (s.empty() ? "" : " ") + printable(x);
      return s.empty() ? std::string("nothing") : s;
    };
    for (auto& l : linked) {
      auto na = names(by_a[l.ia], l.rel);
      auto nb = names(by_b[l.ib], l.rel);
      if (na == nb) continue;
      add(l.rel, "links", join(na), join(nb),
          "Hard links differ: " + a.label(l.rel) + " is linked to " + join(na) + ", " + b.label(l.rel) + " to " +
              join(nb));
    }
  }

  // One directory present on both sides: its names merged in order; subdirectories are returned, in order.
  void directory(const std::string& rel, uint64_t ha, uint64_t hb,
                 std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>>& subdirs) {
    std::vector<SideEntry> la, lb;
    if (int err = a.enter(rel, ha, la)) return unreadable(a, rel, "read directory", err);
    if (int err = b.enter(rel, hb, lb)) return unreadable(b, rel, "read directory", err);
    size_t i = 0, j = 0;
    while (i < la.size() || j < lb.size()) {
      const SideEntry* ea = i < la.size() ? &la[i] : nullptr;
      const SideEntry* eb = j < lb.size() ? &lb[j] : nullptr;
      const std::string& name = ea && (!eb || ea->name <= eb->name) ? ea->name : eb->name;
      bool in_a = ea && ea->name == name, in_b = eb && eb->name == name;
      std::string path = child_path(rel, name);
      if (in_a) i++;
      if (in_b) j++;
      if (o.skip.count(path)) continue;
      if ((in_a && a.mount_point(*ea)) || (in_b && b.mount_point(*eb))) {
        mounts.push_back(path);
        continue;
      }
      if (!in_b)
        add(path, o.only_a, "", "", "Only in " + a.label(rel) + ": " + printable(name));
      else if (!in_a)
        add(path, o.only_b, "", "", "Only in " + b.label(rel) + ": " + printable(name));
      else if (entry(path, ea, eb))
        subdirs.push_back({path, {ea->handle, eb->handle}});
    }
  }
};

}  // namespace

void compare_trees(CompareSide& a, CompareSide& b, const CompareOptions& o, std::vector<TreeDifference>& out,
                   std::vector<std::string>& mounts) {
  Comparer c{a, b, o, out, mounts, {}};
  if (!c.entry("/", nullptr, nullptr)) {
    c.links();
    return;
  }
  // Depth first, in name order, so the differences come out sorted like diff -r's. Only paths and handles
  // wait on the stack: each side opens a directory when it is reached (no descriptor per pending directory).
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> stack{{"/", {a.root_handle(), b.root_handle()}}};
  while (!stack.empty()) {
    o.cancel.check();
    auto [rel, h] = std::move(stack.back());
    stack.pop_back();
    std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> subdirs;
    c.directory(rel, h.first, h.second, subdirs);
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back(std::move(*it));
  }
  c.links();
}

}  // namespace casper
