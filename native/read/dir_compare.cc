#include "read/dir_compare.h"

#include "util/paths.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "util/error.h"

namespace casper {

std::string printable(const std::string& s) {
  std::string o;
  for (unsigned char ch : s) {
    if (ch == '\\') o += "\\\\";
    else if (ch == '\n') o += "\\n";
    else if (ch == '\t') o += "\\t";
    else if (ch < 0x20 || ch == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\%03o", ch);
      o += b;
    } else o += char(ch);
  }
  return o;
}

namespace {

const char* type_name(uint16_t basic) {
  switch (basic) {
    case 1: return "directory";
    case 2: return "regular file";
    case 3: return "symbolic link";
    case 4: return "block special file";
    case 5: return "character special file";
    case 6: return "fifo";
    default: return "socket";
  }
}

uint16_t basic_of(mode_t m) {
  if (S_ISDIR(m)) return 1;
  if (S_ISREG(m)) return 2;
  if (S_ISLNK(m)) return 3;
  if (S_ISBLK(m)) return 4;
  if (S_ISCHR(m)) return 5;
  if (S_ISFIFO(m)) return 6;
  return 7;
}

std::string octal(unsigned v) {
  char b[16];
  std::snprintf(b, sizeof b, "%04o", v);
  return b;
}

// Sorted names in a directory (bytewise, as in the image), or an error code.
int list_dir(const std::string& path, std::vector<std::string>& names) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return errno;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return err;
}

// The xattrs of path in the namespaces SquashFS stores (user, trusted, security).
std::map<std::string, std::string> tree_xattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
  if (n <= 0) return out;
  std::vector<char> list(size_t(n) + 1);
  n = ::llistxattr(path.c_str(), list.data(), list.size());
  if (n <= 0) return out;
  for (ssize_t i = 0; i < n;) {
    std::string key(list.data() + i);
    i += ssize_t(key.size()) + 1;
    if (key.rfind("user.", 0) != 0 && key.rfind("trusted.", 0) != 0 && key.rfind("security.", 0) != 0) continue;
    ssize_t v = ::lgetxattr(path.c_str(), key.c_str(), nullptr, 0);
    if (v < 0) continue;
    std::string value(size_t(v), '\0');
    v = ::lgetxattr(path.c_str(), key.c_str(), value.empty() ? nullptr : &value[0], value.size());
    if (v < 0) continue;
    value.resize(size_t(v));
    out[key] = value;
  }
  return out;
}

std::string xattr_text(const std::map<std::string, std::string>& m) {
  std::string s;
  for (auto& [k, v] : m) s += (s.empty() ? "" : ",") + k;
  return s.empty() ? "(none)" : s;
}

struct Comparer {
  Image& img;
  std::string il, dl;  // labels: image path, directory path without trailing slash
  std::string dir;
  const std::set<std::string>& ignore;
  std::vector<VerifyDifference>& out;
  std::unordered_map<uint32_t, ContentCheck>& content;
  // Hard links: for every entry present on both sides (not directories), its image inode and tree inode.
  struct Linked { uint32_t node; uint32_t ino; dev_t dev; ino_t tino; };
  std::vector<Linked> linked;

  bool on(const char* field) const { return ignore.count(field) == 0; }
  void add(const std::string& rel, const char* kind, const std::string& a, const std::string& b, const std::string& line) {
    out.push_back(VerifyDifference{rel, kind, a, b, line});
  }
  std::string ip(const std::string& rel) const { return il + ":" + printable(rel); }
  std::string dp(const std::string& rel) const { return dl + printable(rel == "/" ? "" : rel); }

  void field(const std::string& rel, const char* kind, const char* label, const std::string& a, const std::string& b) {
    if (a == b) return;
    add(rel, kind, a, b, std::string(label) + " differ: " + ip(rel) + " " + a + ", " + dp(rel) + " " + b);
  }

  // Compares one entry present on both sides; returns true when both are directories (to descend).
  bool entry(uint32_t node, const std::string& rel) {
    const Inode& n = img.inode.at(img.nodes[node].ino);
    std::string src = dir + (rel == "/" ? "" : rel);
    struct stat st;
    if (::lstat(src.c_str(), &st) != 0) {
      add(rel, "unreadable", "", std::strerror(errno), "Cannot stat " + dp(rel) + ": " + std::strerror(errno));
      return false;
    }
    uint16_t tb = basic_of(st.st_mode);
    if (tb != n.basic) {
      add(rel, "type", type_name(n.basic), type_name(tb),
          "File " + ip(rel) + " is a " + type_name(n.basic) + " while file " + dp(rel) + " is a " + type_name(tb));
      return false;
    }
    if (on("mode")) field(rel, "mode", "Modes", octal(n.mode), octal(st.st_mode & 07777));
    if (on("owner")) {
      field(rel, "owner", "Owners", std::to_string(img.tables.ids[n.uid_idx]), std::to_string(st.st_uid));
      field(rel, "group", "Groups", std::to_string(img.tables.ids[n.gid_idx]), std::to_string(st.st_gid));
    }
    if (on("mtime")) field(rel, "mtime", "Modification times", std::to_string(n.mtime), std::to_string(int64_t(st.st_mtim.tv_sec)));
    if (on("xattrs")) {
      std::map<std::string, std::string> a;
      for (auto& kv : img.xattrs_of(n)) a[kv.key] = kv.value;
      std::map<std::string, std::string> b = tree_xattrs(src);
      if (a != b) {
        std::string keys;
        for (auto& [k, v] : a)
          if (!b.count(k) || b[k] != v) keys += (keys.empty() ? "" : ",") + k;
        for (auto& [k, v] : b)
          if (!a.count(k)) keys += (keys.empty() ? "" : ",") + k;
        add(rel, "xattrs", xattr_text(a), xattr_text(b), "Extended attributes differ (" + printable(keys) + "): " + ip(rel) + ", " + dp(rel));
      }
    }
    switch (n.basic) {
      case 1: return true;
      case 2:
        if (uint64_t(st.st_size) != n.size) {
          if (on("content"))
            add(rel, "content", std::to_string(n.size), std::to_string(st.st_size),
                "Files " + ip(rel) + " and " + dp(rel) + " differ (" + std::to_string(n.size) + " and " + std::to_string(st.st_size) + " bytes)");
        } else if (on("content") && !content.count(n.number)) {
          content.emplace(n.number, ContentCheck{src, node});
        }
        break;
      case 3: {
        std::string t(size_t(st.st_size) + 1, '\0');
        ssize_t k = ::readlink(src.c_str(), &t[0], t.size());
        if (k < 0) {
          add(rel, "unreadable", "", std::strerror(errno), "Cannot read link " + dp(rel) + ": " + std::strerror(errno));
        } else {
          t.resize(size_t(k));
          if (t != n.target) add(rel, "symlink", n.target, t, "Symbolic links " + ip(rel) + " -> " + printable(n.target) + " and " + dp(rel) + " -> " + printable(t) + " differ");
        }
        break;
      }
      case 4:
      case 5:
        field(rel, "device", "Device numbers", std::to_string(n.dev_major()) + ":" + std::to_string(n.dev_minor()),
              std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev)));
        break;
      default:
        break;
    }
    linked.push_back({node, n.number, st.st_dev, st.st_ino});
    return false;
  }

  void links() {
    if (!on("links")) return;
    std::map<uint32_t, std::vector<uint32_t>> by_image;
    std::map<std::pair<dev_t, ino_t>, std::vector<uint32_t>> by_tree;
    for (auto& l : linked) {
      by_image[l.ino].push_back(l.node);
      by_tree[{l.dev, l.tino}].push_back(l.node);
    }
    auto names = [&](const std::vector<uint32_t>& v, uint32_t self) {
      std::vector<std::string> s;
      for (uint32_t x : v)
        if (x != self) s.push_back(img.path_of(x));
      std::sort(s.begin(), s.end());
      return s;
    };
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (auto& x : v) s += (s.empty() ? "" : " ") + printable(x);
      return s.empty() ? std::string("nothing") : s;
    };
    for (auto& l : linked) {
      auto a = names(by_image[l.ino], l.node);
      auto b = names(by_tree[{l.dev, l.tino}], l.node);
      if (a == b) continue;
      std::string rel = img.path_of(l.node);
      add(rel, "links", join(a), join(b), "Hard links differ: " + ip(rel) + " is linked to " + join(a) + ", " + dp(rel) + " to " + join(b));
    }
  }
};

}  // namespace

void compare_with_tree(Image& img, const std::string& image_label, const std::string& dir_in, const std::set<std::string>& ignore,
                       const CancelFlag& cancel, std::vector<VerifyDifference>& out, std::unordered_map<uint32_t, ContentCheck>& content) {
  std::string dir = dir_in;
  dir = strip_trailing_slashes(dir);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) throw sys_error(errno, "stat", dir);
  if (!S_ISDIR(st.st_mode)) throw NativeError("ENOTDIR", "'" + dir + "' is not a directory", "stat", dir);
  Comparer c{img, printable(image_label), printable(dir), dir == "/" ? "" : dir, ignore, out, content, {}};
  if (dir == "/") c.dl = "";
  // Depth first, in name order, so the differences come out sorted like diff -r's.
  std::vector<uint32_t> stack;
  if (c.entry(0, "/")) stack.push_back(0);
  while (!stack.empty()) {
    cancel.check();
    uint32_t node = stack.back();
    stack.pop_back();
    const ImageNode& dn = img.nodes[node];
    std::string rel = img.path_of(node);
    std::string base = rel == "/" ? "" : rel;
    std::vector<std::string> names;
    int err = list_dir(c.dir + base, names);
    if (err) {
      c.add(rel, "unreadable", "", std::strerror(err), "Cannot read directory " + c.dp(rel) + ": " + std::strerror(err));
      continue;
    }
    std::vector<uint32_t> subdirs;
    size_t i = 0, j = 0;
    const uint32_t n = dn.nchildren, first = dn.first_child;
    while (i < n || j < names.size()) {
      const std::string* in = i < n ? &img.nodes[first + i].name : nullptr;
      const std::string* tn = j < names.size() ? &names[j] : nullptr;
      if (in && (!tn || *in < *tn)) {
        c.add(base + "/" + *in, "only-in-image", "", "", "Only in " + c.ip(rel) + ": " + printable(*in));
        i++;
      } else if (tn && (!in || *tn < *in)) {
        c.add(base + "/" + *tn, "only-in-dir", "", "", "Only in " + (c.dl.empty() && rel == "/" ? std::string("/") : c.dp(rel)) + ": " + printable(*tn));
        j++;
      } else {
        if (c.entry(first + uint32_t(i), base + "/" + *in)) subdirs.push_back(first + uint32_t(i));
        i++;
        j++;
      }
    }
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back(*it);
  }
  c.links();
}

}  // namespace casper
