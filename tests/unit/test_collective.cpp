// The byte image of an error that dist::agree_on_error broadcasts: every
// aptflow error type survives with its fields (no MPI needed).
#include <gtest/gtest.h>

#include <new>
#include <string>

#include "aptflow/core/error.hpp"
#include "aptflow/dist/collective.hpp"

using namespace aptflow;
using dist::detail::error_image;
using dist::detail::rethrow_image;

namespace {

template <class E>
std::exception_ptr ptr(E e) {
  return std::make_exception_ptr(std::move(e));
}

// Rethrow the image as rank 3 would receive it from rank 1 and return the copy.
std::exception_ptr copy(const std::exception_ptr& e) {
  try {
    rethrow_image(error_image(e), 1);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

}  // namespace

TEST(ErrorImage, InputErrorKeepsFileWhereAndReason) {
  const InputError cases[] = {InputError::at_byte("a.pos", 1234567890123, "truncated \"record\"\n"),
                              InputError::at_line("b.rrng", 17, "no '='"), InputError("c.apt", "")};
  for (const auto& want : cases) {
    try {
      std::rethrow_exception(copy(ptr(want)));
    } catch (const InputError& got) {
      EXPECT_EQ(got.file(), want.file());
      EXPECT_EQ(got.where(), want.where());
      EXPECT_EQ(got.location(), want.location());
      EXPECT_EQ(got.reason(), want.reason());
      EXPECT_STREQ(got.what(), want.what());
      continue;
    }
    ADD_FAILURE() << "not an InputError";
  }
}

TEST(ErrorImage, ConfigErrorKeepsKeyAndReason) {
  try {
    std::rethrow_exception(copy(ptr(ConfigError("segment.eps", "must be > 0"))));
  } catch (const ConfigError& got) {
    EXPECT_EQ(got.key(), "segment.eps");
    EXPECT_EQ(got.reason(), "must be > 0");
    EXPECT_STREQ(got.what(), "config key 'segment.eps': must be > 0");
    return;
  }
  ADD_FAILURE() << "not a ConfigError";
}

TEST(ErrorImage, OtherErrorsKeepTheirClassAndNameTheRank) {
  EXPECT_THROW(std::rethrow_exception(copy(ptr(InternalError("bug")))), InternalError);
  EXPECT_THROW(std::rethrow_exception(copy(ptr(ResourceError("disk full")))), ResourceError);
  try {
    std::rethrow_exception(copy(ptr(Error("plain"))));
  } catch (const ResourceError&) {
    ADD_FAILURE() << "an Error became a ResourceError";
  } catch (const InternalError&) {
    ADD_FAILURE() << "an Error became an InternalError";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rank 1: plain");
  }
  // Not an aptflow error (e.g. out of memory): a ResourceError naming the rank.
  try {
    std::rethrow_exception(copy(ptr(std::bad_alloc())));
  } catch (const ResourceError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("rank 1: ", 0), 0u) << e.what();
  }
  try {
    std::rethrow_exception(copy(std::make_exception_ptr(42)));
  } catch (const ResourceError& e) {
    EXPECT_STREQ(e.what(), "rank 1: unknown exception");
  }
  EXPECT_THROW(rethrow_image(std::string(5, 'x'), 0), InternalError);  // truncated image
}
