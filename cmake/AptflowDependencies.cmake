# All dependencies come from Debian's apt (scripts/setup.sh installs them).

# ---- MPI
find_package(MPI REQUIRED COMPONENTS C CXX)

# ---- Kokkos: Debian's libtrilinos-kokkos-dev (3.4) or a user's Kokkos 4.x via
# -DKokkos_ROOT=/path/to/kokkos/install.
find_package(Kokkos REQUIRED)
# Debian's Trilinos build exports an include dir (<prefix>/include) that does
# not hold the headers; they live in ${Kokkos_INCLUDE_DIRS} (include/trilinos).
if(Kokkos_INCLUDE_DIRS)
  set(_aptflow_kokkos_inc "")
  foreach(_d IN LISTS Kokkos_INCLUDE_DIRS)
    get_filename_component(_real "${_d}" REALPATH)
    if(EXISTS "${_real}/Kokkos_Core.hpp")
      list(APPEND _aptflow_kokkos_inc "${_real}")
    endif()
  endforeach()
  if(_aptflow_kokkos_inc)
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_aptflow_kokkos_inc}")
  endif()
endif()
message(STATUS "aptflow: Kokkos ${Kokkos_VERSION}")
# With Kokkos' CUDA backend every translation unit goes through nvcc, which
# cannot evaluate fmt 9's consteval format-string checks ("call to consteval
# function ... did not produce a valid constant expression"): make them
# run-time checks for the whole project (fmt and spdlog calls alike), and
# keep fmt's constexpr functions constexpr (fmt turns them off for nvcc, but
# the C++20 ones still call them: errors in g++'s pass).
if("CUDA" IN_LIST Kokkos_DEVICES)
  add_compile_definitions(FMT_CONSTEVAL= FMT_USE_CONSTEXPR=1)
  # No FMA contraction in device code: r2 = (dx*dx + dy*dy) + dz*dz must round
  # as on the host, or a pair exactly at r_cut could count differently
  # (docs/sdm.md); the integer counts are identical on every backend.
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fmad=false>)
  # nvcc's front end mistranslates toml++ 3.3 (table.h: "'__T0' was not
  # declared"): the translation units that need toml++'s definitions include
  # no Kokkos and are compiled by the host compiler alone.
  set(APTFLOW_HOST_ONLY_SOURCES src/core/config.cpp src/nn/train_config.cpp src/report/classify_report.cpp)
  list(TRANSFORM APTFLOW_HOST_ONLY_SOURCES PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/)
  set_source_files_properties(${APTFLOW_HOST_ONLY_SOURCES} PROPERTIES COMPILE_OPTIONS --host-only)
  message(STATUS "aptflow: Kokkos CUDA backend: fmt format strings checked at run time (FMT_CONSTEVAL= FMT_USE_CONSTEXPR=1)")
endif()

# ---- parallel HDF5 (required)
set(HDF5_PREFER_PARALLEL ON)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "aptflow needs a parallel (MPI) HDF5, but the HDF5 found (${HDF5_C_INCLUDE_DIRS}) is serial. "
    "On Debian/Ubuntu: apt-get install libhdf5-openmpi-dev (scripts/setup.sh does this).")
endif()
add_library(aptflow_hdf5 INTERFACE)
target_include_directories(aptflow_hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS})
target_link_libraries(aptflow_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(aptflow_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} H5_USE_110_API)

# ---- BLAS (OpenBLAS on the host)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
add_library(aptflow_blas INTERFACE)
target_link_libraries(aptflow_blas INTERFACE ${BLAS_LIBRARIES})
find_path(APTFLOW_CBLAS_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas /usr/include)
if(APTFLOW_CBLAS_INCLUDE)
  target_include_directories(aptflow_blas INTERFACE ${APTFLOW_CBLAS_INCLUDE})
endif()

# ---- Eigen (dense linear algebra of the mass-spectrum meta-analysis, src/analysis)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)

# ---- small libraries
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)

# ---- CUDA (optional, AUTO)
set(APTFLOW_HAVE_CUDA 0)
if(NOT APTFLOW_ENABLE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(_aptflow_nvcc nvcc PATHS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
    if(_aptflow_nvcc)
      set(CMAKE_CUDA_COMPILER ${_aptflow_nvcc})
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(APTFLOW_HAVE_CUDA 1)
    message(STATUS "aptflow: CUDA ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
    add_subdirectory(${CMAKE_CURRENT_SOURCE_DIR}/kernels/cuda ${CMAKE_CURRENT_BINARY_DIR}/kernels_cuda)
  elseif(APTFLOW_ENABLE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "APTFLOW_ENABLE_CUDA=ON but no nvcc was found (set CMAKE_CUDA_COMPILER or use -DAPTFLOW_ENABLE_CUDA=OFF)")
  else()
    message(STATUS "aptflow: CUDA OFF (no nvcc found; kernels/cuda is not built)")
  endif()
else()
  message(STATUS "aptflow: CUDA OFF (APTFLOW_ENABLE_CUDA=OFF)")
endif()
