// RangeTableBuilder: from the raw ranges of a file (in file order) to a
// RangeTable of sorted, non-overlapping [lo, hi) intervals.
//
// Semantics (docs/range-files.md): an m/q value belongs to the ion type of the
// earliest line (in file order) whose range contains it. Without overlaps
// between different ion types that is simply "the range that contains it";
// with them, OverlapPolicy::error rejects the file and first_wins applies the
// rule, clipping later ranges.
//  1. identical repeats (same lo, hi, ion type) are merged: one warning;
//  2. overlapping ranges of one ion type are merged into their union: warning
//     (ranges that only touch, hi == lo, stay separate);
//  3. overlaps between different ion types: InputError naming both lines, or
//     with first_wins an elementary-interval sweep assigns every piece to the
//     earliest line holding it (later ranges clipped or dropped: warning).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "io/range_file_detail.hpp"

namespace aptflow::detail {

int RangeTableBuilder::intern_type(const Composition& composition, const std::string& custom_name,
                                   const std::string& color, double volume, std::int64_t line) {
  // The same element from several columns or formula parts adds up (RNG: H2 and H
  // in one row); the sum must stay a count every reader accepts.
  std::map<std::string, std::int64_t> atoms;
  for (const auto& [el, n] : composition)
    if ((atoms[el] += n) > kMaxAtomsPerElement)
      throw error_at(line,
                     fmt::format("the ion holds more than {} {} atoms (at most {} atoms of one element per "
                                 "ion are supported); fix the counts",
                                 kMaxAtomsPerElement, el, kMaxAtomsPerElement));
  const Composition comp = canonical_composition(composition);
  const std::string key = type_key(comp, custom_name);
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    IonType& t = types_[it->second];
    if (t.color.empty() && !color.empty()) t.color = color;
    if (t.volume == 0 && volume > 0) t.volume = volume;
    // A custom name given later for a composition first seen without one.
    if (!custom_name.empty() && !comp.empty() && !custom_named_[it->second] && t.name != custom_name) {
      spdlog::debug("range file '{}': line {}: ion {} is also called '{}'; keeping the name '{}'", source_,
                    line, t.name, custom_name, t.name);
    }
    return it->second;
  }
  IonType t;
  t.composition = comp;
  t.name = custom_name.empty() ? formula_of(comp) : custom_name;
  t.color = color;
  t.volume = volume;
  for (const auto& other : types_)
    if (other.name == t.name)
      throw error_at(
          line,
          fmt::format("ion name '{}' is used for two different ion types ({} and {}); give "
                      "them distinct names",
                      t.name, other.composition.empty() ? "no composition" : formula_of(other.composition),
                      comp.empty() ? "no composition" : formula_of(comp)));
  const int id = static_cast<int>(types_.size());
  types_.push_back(std::move(t));
  custom_named_.push_back(!custom_name.empty());
  by_key_.emplace(key, id);
  return id;
}

void RangeTableBuilder::declare(const std::string& name) { declared_keys_.push_back(name); }

InputError RangeTableBuilder::error_at(std::int64_t where, const std::string& reason) const {
  if (label_ == "line") return InputError::at_line(source_, where, reason);
  return InputError(source_, fmt::format("{} {}: {}", label_, where, reason));
}

void RangeTableBuilder::add_range(double lo, double hi, int type, std::int64_t line, bool restated) {
  APTFLOW_ASSERT(lo < hi && lo >= 0, "parser must check lo < hi");
  APTFLOW_ASSERT(type >= 0 && static_cast<std::size_t>(type) < types_.size(), "ion type id out of range");
  raw_.push_back({lo, hi, type, line, restated});
}

RangeTable RangeTableBuilder::finish(std::int64_t last_line) {
  if (raw_.empty())
    throw error_at(last_line,
                   "no mass ranges found; a range file needs at least one range (truncated file?)");

  // ---- 1. identical repeats -------------------------------------------------
  std::vector<std::size_t> idx(raw_.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    const Raw &x = raw_[a], &y = raw_[b];
    if (x.lo != y.lo) return x.lo < y.lo;
    if (x.hi != y.hi) return x.hi < y.hi;
    if (x.type != y.type) return x.type < y.type;
    return x.line < y.line;
  });
  std::vector<Raw> rs;  // unique raw ranges
  rs.reserve(raw_.size());
  std::int64_t n_dup = 0, n_restated = 0;
  for (std::size_t i : idx) {
    const Raw& r = raw_[i];
    if (!rs.empty() && rs.back().lo == r.lo && rs.back().hi == r.hi && rs.back().type == r.type) {
      if (r.restated || rs.back().restated)
        ++n_restated;
      else
        ++n_dup;
      continue;
    }
    rs.push_back(r);
  }
  std::stable_sort(rs.begin(), rs.end(), [](const Raw& a, const Raw& b) { return a.line < b.line; });
  if (n_dup > 0)
    spdlog::warn("range file '{}': merged {} identical duplicate range(s) (same lo, hi and ion type)",
                 source_, n_dup);
  if (n_restated > 0)
    spdlog::debug("range file '{}': {} range(s) of the polyatomic extension restate main-table ranges",
                  source_, n_restated);
  const std::size_t n = rs.size();

  // ---- 2. union of overlapping ranges of one ion type -------------------------
  std::vector<std::size_t> by_type_lo(n);
  std::iota(by_type_lo.begin(), by_type_lo.end(), 0);
  std::sort(by_type_lo.begin(), by_type_lo.end(), [&](std::size_t a, std::size_t b) {
    if (rs[a].type != rs[b].type) return rs[a].type < rs[b].type;
    if (rs[a].lo != rs[b].lo) return rs[a].lo < rs[b].lo;
    return rs[a].line < rs[b].line;
  });
  struct Group {
    double lo, hi;
    int type;
    std::int64_t line;  // earliest line
    std::vector<std::size_t> members;
  };
  std::vector<Group> groups;
  std::vector<std::size_t> group_of(n);
  std::int64_t n_merged = 0;
  std::string merge_example;
  for (std::size_t k : by_type_lo) {
    const Raw& r = rs[k];
    if (!groups.empty() && groups.back().type == r.type && r.lo < groups.back().hi) {
      Group& g = groups.back();
      if (merge_example.empty())
        merge_example =
            fmt::format(" (first: {}s {} and {}, '{}')", label_, std::min(rs[g.members.front()].line, r.line),
                        std::max(rs[g.members.front()].line, r.line), types_[r.type].name);
      g.hi = std::max(g.hi, r.hi);
      g.line = std::min(g.line, r.line);
      g.members.push_back(k);
      ++n_merged;
    } else {
      groups.push_back({r.lo, r.hi, r.type, r.line, {k}});
    }
    group_of[k] = groups.size() - 1;
  }
  if (n_merged > 0)
    spdlog::warn(
        "range file '{}': merged {} range(s) overlapping another range of the same ion type into their "
        "union{}",
        source_, n_merged, merge_example);

  // ---- 3. overlaps between different ion types (error policy) ----------------
  // Same-type groups are disjoint, so any overlap between groups is between
  // different ion types. Sweep by lo, keeping the group that reaches furthest.
  if (opt_.overlap == OverlapPolicy::error && !groups.empty()) {
    std::vector<std::size_t> gorder(groups.size());
    std::iota(gorder.begin(), gorder.end(), 0);
    std::sort(gorder.begin(), gorder.end(), [&](std::size_t a, std::size_t b) {
      if (groups[a].lo != groups[b].lo) return groups[a].lo < groups[b].lo;
      return groups[a].line < groups[b].line;
    });
    std::size_t holder = gorder[0];
    for (std::size_t q = 1; q < gorder.size(); ++q) {
      const std::size_t g = gorder[q];
      if (groups[g].lo < groups[holder].hi) {
        // Name the two file lines that overlap.
        const Raw* a = nullptr;
        const Raw* b = nullptr;
        for (std::size_t i : groups[holder].members)
          for (std::size_t j : groups[g].members)
            if (!a && rs[i].lo < rs[j].hi && rs[j].lo < rs[i].hi) {
              a = &rs[i];
              b = &rs[j];
            }
        APTFLOW_ASSERT(a && b, "overlapping groups without overlapping members");
        if (a->line > b->line) std::swap(a, b);  // a: the earlier line
        throw error_at(
            b->line,
            fmt::format(
                "range [{}, {}) Da ('{}') overlaps the range [{}, {}) Da ('{}') at {} {}, a different "
                "ion type; fix the range file or read it with the first_wins overlap policy",
                b->lo, b->hi, types_[b->type].name, a->lo, a->hi, types_[a->type].name, label_, a->line));
      }
      if (groups[g].hi > groups[holder].hi) holder = g;
    }
  }

  // ---- 4. elementary-interval sweep: every piece to the earliest line ---------
  std::vector<double> ends;
  ends.reserve(2 * n);
  for (const Raw& r : rs) {
    ends.push_back(r.lo);
    ends.push_back(r.hi);
  }
  std::sort(ends.begin(), ends.end());
  ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
  std::vector<std::size_t> by_lo(n), by_hi(n);
  std::iota(by_lo.begin(), by_lo.end(), 0);
  std::iota(by_hi.begin(), by_hi.end(), 0);
  std::sort(by_lo.begin(), by_lo.end(), [&](std::size_t a, std::size_t b) { return rs[a].lo < rs[b].lo; });
  std::sort(by_hi.begin(), by_hi.end(), [&](std::size_t a, std::size_t b) { return rs[a].hi < rs[b].hi; });
  // Active ranges ordered by line (rs is in line order, so by index).
  std::set<std::size_t> active;
  const std::size_t nseg = ends.size() - 1;
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::vector<std::size_t> seg_owner(nseg, kNone);
  std::size_t pa = 0, pr = 0;
  for (std::size_t j = 0; j < nseg; ++j) {
    const double a = ends[j];
    while (pr < n && rs[by_hi[pr]].hi <= a) active.erase(by_hi[pr++]);
    while (pa < n && rs[by_lo[pa]].lo <= a) {
      if (rs[by_lo[pa]].hi > a) active.insert(by_lo[pa]);
      ++pa;
    }
    if (!active.empty()) seg_owner[j] = *active.begin();
  }

  // Clipped or dropped ranges (only with first_wins: otherwise every piece of
  // a range is owned by its own ion type).
  std::vector<std::string> clipped;
  std::int64_t n_clipped = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto j0 =
        static_cast<std::size_t>(std::lower_bound(ends.begin(), ends.end(), rs[i].lo) - ends.begin());
    const auto j1 =
        static_cast<std::size_t>(std::lower_bound(ends.begin(), ends.end(), rs[i].hi) - ends.begin());
    std::size_t by = kNone;
    bool kept = false;
    for (std::size_t j = j0; j < j1; ++j) {
      const std::size_t o = seg_owner[j];
      if (rs[o].type == rs[i].type)
        kept = true;
      else if (by == kNone)
        by = o;
    }
    if (by != kNone) {
      APTFLOW_ASSERT(opt_.overlap == OverlapPolicy::first_wins,
                     "cross-type overlap survived the error policy");
      ++n_clipped;
      if (clipped.size() < 5)
        clipped.push_back(fmt::format("{} {} ('{}') {} by {} {} ('{}')", label_, rs[i].line,
                                      types_[rs[i].type].name, kept ? "clipped" : "dropped", label_,
                                      rs[by].line, types_[rs[by].type].name));
    }
  }

  // Coalesce consecutive pieces that belong to the same same-type union.
  std::vector<MassRange> out;
  std::size_t last_group = kNone;
  for (std::size_t j = 0; j < nseg; ++j) {
    const std::size_t o = seg_owner[j];
    if (o == kNone) {
      last_group = kNone;
      continue;
    }
    const std::size_t g = group_of[o];
    if (g == last_group && out.back().hi == ends[j]) {
      out.back().hi = ends[j + 1];
      out.back().line = std::min(out.back().line, rs[o].line);
    } else {
      out.push_back({ends[j], ends[j + 1], rs[o].type, rs[o].line});
    }
    last_group = g;
  }

  // ---- 5. ion types: only those with ranges; declared ones first -------------
  std::vector<char> used(types_.size(), 0);
  for (const auto& r : out) used[r.ion_type] = 1;
  std::vector<std::int64_t> first_line(types_.size(), std::numeric_limits<std::int64_t>::max());
  for (const Raw& r : raw_) first_line[r.type] = std::min(first_line[r.type], r.line);
  std::vector<int> order;
  std::vector<char> placed(types_.size(), 0);
  for (const auto& d : declared_keys_) {
    int found = -1;
    for (std::size_t k = 0; k < types_.size() && found < 0; ++k)
      if (types_[k].name == d) found = static_cast<int>(k);
    if (found < 0)
      if (auto comp = parse_formula(d)) {
        auto it = by_key_.find(type_key(*comp, ""));
        if (it != by_key_.end()) found = it->second;
      }
    if (found >= 0 && used[found] && !placed[found]) {
      placed[found] = 1;
      order.push_back(found);
    }
  }
  std::vector<int> rest;
  for (std::size_t k = 0; k < types_.size(); ++k)
    if (used[k] && !placed[k]) rest.push_back(static_cast<int>(k));
  std::sort(rest.begin(), rest.end(), [&](int a, int b) { return first_line[a] < first_line[b]; });
  order.insert(order.end(), rest.begin(), rest.end());

  std::vector<int> remap(types_.size(), -1);
  RangeTable table;
  table.source = source_;
  for (std::size_t k = 0; k < order.size(); ++k) {
    remap[order[k]] = static_cast<int>(k);
    table.ion_types.push_back(types_[order[k]]);
  }
  for (auto& r : out) r.ion_type = remap[r.ion_type];
  table.ranges = std::move(out);

  if (n_clipped > 0) {
    std::string list;
    for (const auto& c : clipped) list += (list.empty() ? "" : "; ") + c;
    if (n_clipped > static_cast<std::int64_t>(clipped.size()))
      list += fmt::format("; and {} more", n_clipped - static_cast<std::int64_t>(clipped.size()));
    std::int64_t n_lost_types = 0;
    for (std::size_t k = 0; k < types_.size(); ++k)
      if (!used[k]) ++n_lost_types;
    spdlog::warn(
        "range file '{}': overlap policy first_wins: {} range(s) overlapping earlier lines of other ion "
        "types were clipped or dropped ({}){}",
        source_, n_clipped, list,
        n_lost_types ? fmt::format("; {} ion type(s) lost all their ranges", n_lost_types) : "");
  }
  validate_range_table(table);
  return table;
}

}  // namespace aptflow::detail
