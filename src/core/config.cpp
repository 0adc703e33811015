#include "aptflow/core/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <cfenv>
#include <sstream>

#include "aptflow/core/error.hpp"

namespace aptflow {

namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : key) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

// Parse text as a TOML value by embedding it in a one-line document.
toml::table parse_value_doc(const std::string& value_text) {
  try {
    return toml::parse("v = " + value_text);
  } catch (const toml::parse_error&) {
    // A bare word (path, name) is taken as a string.
    toml::table t;
    t.insert_or_assign("v", value_text);
    return t;
  }
}

std::string type_name(const toml::node& n) {
  std::ostringstream os;
  os << n.type();
  return os.str();
}

void collect_leaves(const toml::table& t, const std::string& prefix, std::vector<std::string>& out) {
  for (auto&& [k, v] : t) {
    std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (auto* sub = v.as_table()) {
      collect_leaves(*sub, path, out);
    } else if (auto* arr = v.as_array(); arr && !arr->empty() && arr->is_array_of_tables()) {
      for (std::size_t i = 0; i < arr->size(); ++i)
        collect_leaves(*arr->get(i)->as_table(), path + "." + std::to_string(i), out);
    } else {
      out.push_back(path);
    }
  }
}

// TOML text of a table, printed with floating-point traps held: toml++
// prints inf (e.g. thresholds) with an operation that raises FE_INVALID.
std::string print_table(const toml::table& t) {
  std::fenv_t env;
  std::feholdexcept(&env);
  std::ostringstream os;
  os << t;
  std::fesetenv(&env);
  return os.str();
}

}  // namespace

Config::Config() : doc_(std::make_unique<toml::table>()) {}
Config::Config(const Config& other)
    : doc_(std::make_unique<toml::table>(*other.doc_)), source_(other.source_), used_(other.used_) {}
Config::Config(Config&& other) noexcept = default;
Config& Config::operator=(const Config& other) {
  if (this != &other) {
    doc_ = std::make_unique<toml::table>(*other.doc_);
    source_ = other.source_;
    used_ = other.used_;
  }
  return *this;
}
Config& Config::operator=(Config&& other) noexcept = default;
Config::~Config() = default;

const toml::table& Config::table() const { return *doc_; }

bool Config::is_table(const std::string& key) const {
  const auto* n = find(key);
  return n && n->is_table();
}

bool Config::is_number(const std::string& key) const {
  const auto* n = find(key);
  return n && n->is_number();
}

bool Config::is_string(const std::string& key) const {
  const auto* n = find(key);
  return n && n->is_string();
}

bool Config::is_array(const std::string& key) const {
  const auto* n = find(key);
  return n && n->is_array();
}

Config Config::from_file(const std::string& path) {
  Config c;
  c.source_ = path;
  try {
    *c.doc_ = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    if (src.begin.line == 0) throw InputError(path, fmt::format("cannot read config: {}", e.description()));
    throw InputError::at_line(path, src.begin.line,
                              fmt::format("TOML syntax error: {} (fix the config file)", e.description()));
  }
  return c;
}

Config Config::from_string(const std::string& text, const std::string& source) {
  Config c;
  c.source_ = source;
  try {
    *c.doc_ = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw InputError::at_line(source, e.source().begin.line,
                              fmt::format("TOML syntax error: {}", e.description()));
  }
  return c;
}

void Config::apply_overrides(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError(a, "a --set override must look like key=value (e.g. --set seed=7)");
    set(a.substr(0, eq), a.substr(eq + 1));
  }
}

void Config::set(const std::string& key, const std::string& value_text) {
  auto parts = split_key(key);
  toml::table* t = doc_.get();
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) throw ConfigError(key, "empty component in key path");
    auto* node = t->get(parts[i]);
    if (!node) {
      t->insert_or_assign(parts[i], toml::table{});
      node = t->get(parts[i]);
    }
    t = node->as_table();
    if (!t) throw ConfigError(key, fmt::format("'{}' is not a table, cannot set a key below it", parts[i]));
  }
  auto doc = parse_value_doc(value_text);
  t->insert_or_assign(parts.back(), *doc.get("v"));
}

const toml::node* Config::find(const std::string& key) const {
  if (key.empty()) return doc_.get();
  return doc_->at_path(key).node();
}

bool Config::has(const std::string& key) const { return find(key) != nullptr; }

void Config::mark_used(const std::string& key) const { used_.insert(key); }

double Config::get_double(const std::string& key, std::optional<double> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  if (auto v = n->value<double>()) return *v;  // accepts integers too
  throw ConfigError(key, fmt::format("expected a number, got {}", type_name(*n)));
}

std::int64_t Config::get_int(const std::string& key, std::optional<std::int64_t> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  if (n->is_integer()) return n->as_integer()->get();
  throw ConfigError(key, fmt::format("expected an integer, got {}", type_name(*n)));
}

bool Config::get_bool(const std::string& key, std::optional<bool> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  if (n->is_boolean()) return n->as_boolean()->get();
  throw ConfigError(key, fmt::format("expected true or false, got {}", type_name(*n)));
}

std::string Config::get_string(const std::string& key, std::optional<std::string> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  if (n->is_string()) return n->as_string()->get();
  throw ConfigError(key, fmt::format("expected a string, got {}", type_name(*n)));
}

std::vector<double> Config::get_doubles(const std::string& key,
                                        std::optional<std::vector<double>> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  std::vector<double> out;
  if (auto v = n->value<double>()) return {*v};  // a scalar is a one-element list
  const auto* arr = n->as_array();
  if (!arr) throw ConfigError(key, fmt::format("expected an array of numbers, got {}", type_name(*n)));
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto v = arr->get(i)->value<double>();
    if (!v) throw ConfigError(fmt::format("{}[{}]", key, i), "expected a number");
    out.push_back(*v);
  }
  return out;
}

std::vector<std::int64_t> Config::get_ints(const std::string& key,
                                           std::optional<std::vector<std::int64_t>> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  if (n->is_integer()) return {n->as_integer()->get()};
  const auto* arr = n->as_array();
  if (!arr) throw ConfigError(key, fmt::format("expected an array of integers, got {}", type_name(*n)));
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto* e = arr->get(i);
    if (!e->is_integer()) throw ConfigError(fmt::format("{}[{}]", key, i), "expected an integer");
    out.push_back(e->as_integer()->get());
  }
  return out;
}

std::vector<std::string> Config::get_strings(const std::string& key,
                                             std::optional<std::vector<std::string>> fallback) const {
  used_.insert(key);
  const auto* n = find(key);
  if (!n) {
    if (fallback) return *fallback;
    throw ConfigError(key, "required key is missing");
  }
  if (n->is_string()) return {n->as_string()->get()};
  const auto* arr = n->as_array();
  if (!arr) throw ConfigError(key, fmt::format("expected an array of strings, got {}", type_name(*n)));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto* e = arr->get(i);
    if (!e->is_string()) throw ConfigError(fmt::format("{}[{}]", key, i), "expected a string");
    out.push_back(e->as_string()->get());
  }
  return out;
}

std::vector<std::string> Config::keys(const std::string& table_key) const {
  std::vector<std::string> out;
  const auto* n = find(table_key);
  if (!n) return out;
  const auto* t = n->as_table();
  if (!t) throw ConfigError(table_key, "expected a table");
  for (auto&& [k, v] : *t) out.emplace_back(k.str());
  return out;
}

std::size_t Config::array_size(const std::string& key) const {
  const auto* n = find(key);
  if (!n) return 0;
  const auto* arr = n->as_array();
  if (!arr) throw ConfigError(key, "expected an array");
  return arr->size();
}

void Config::check_all_used() const {
  std::vector<std::string> leaves;
  collect_leaves(*doc_, "", leaves);
  for (const auto& leaf : leaves) {
    bool known = false;
    for (const auto& u : used_) {
      if (leaf == u ||
          (leaf.size() > u.size() && leaf.compare(0, u.size(), u) == 0 && leaf[u.size()] == '.')) {
        known = true;
        break;
      }
    }
    if (!known)
      throw ConfigError(
          leaf, fmt::format("unknown key in {} (typo? see configs/ for the documented keys)", source_));
  }
}

std::string Config::to_toml(const std::vector<std::string>& omit) const {
  if (omit.empty()) return print_table(*doc_);
  toml::table t = *doc_;
  for (const auto& k : omit) t.erase(k);
  return print_table(t);
}

std::string Config::table_to_toml(const std::string& key) const {
  const auto* n = find(key);
  if (!n || !n->is_table()) throw ConfigError(key, "must be a table");
  return print_table(*n->as_table());
}

}  // namespace aptflow
