# The library's own dependencies (Debian 12: libeigen3-dev libtbb-dev libtiff-dev nlohmann-json3-dev).
# Shared by the build tree and by qanetConfig.cmake, so consumers find the same packages.
include(CMakeFindDependencyMacro)
find_dependency(Eigen3 3.3 NO_MODULE)
find_dependency(TBB)
find_dependency(TIFF)
find_dependency(nlohmann_json 3.2)
find_dependency(PNG)
