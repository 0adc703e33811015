#pragma once
// Shared by the MPI tests of classify runs (test_published_mpi.cpp,
// test_classify_align_mpi.cpp, test_classify_mpi.cpp): a small random 1D CNN
// (one channel per pair, Al-Al by default) with
// the cocrni window layout, and byte comparison of result datasets.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aptflow/io/h5.hpp"
#include "aptflow/nn/layers.hpp"
#include "aptflow/nn/model.hpp"

namespace aptflow::test {

inline nn::Model small_model(std::uint32_t seed, const std::vector<std::string>& pairs = {"Al-Al"}) {
  nn::Model m({93, static_cast<std::int64_t>(pairs.size())});
  m.add(std::make_unique<nn::Conv>(
      "c", nn::ConvSpec{1, 4, {5}, {1}, nn::Padding::valid, nn::Activation::relu, true}));
  m.add(std::make_unique<nn::MaxPool>("p", nn::PoolSpec{1, {4}, {}, nn::Padding::valid}));
  m.add(std::make_unique<nn::Flatten>("f"));
  m.add(std::make_unique<nn::Dense>("d", 2, nn::Activation::softmax));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (auto* p : m.parameters())
    for (auto& v : p->value) v = u(rng);
  m.class_names = {"FCC", "L1_2"};
  m.features.kind = "z";
  m.features.pairs = pairs;
  m.features.bins = {93};
  m.features.preprocessing = "minmax_only";
  m.features.variant = "cocrni";
  return m;
}

template <class T>
std::vector<T> read_all(const std::string& file, const std::string& path,
                        std::vector<hsize_t>* shape = nullptr) {
  auto f = h5::File::open(file);
  return h5::read<T>(f, path, shape);
}

template <class T>
void expect_same(const std::string& a, const std::string& b, const std::string& path) {
  const auto va = read_all<T>(a, path), vb = read_all<T>(b, path);
  ASSERT_EQ(va.size(), vb.size()) << path;
  EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(T)), 0) << path << " differs";
}

}  // namespace aptflow::test
