# Cross build for arm64 Linux with Debian's cross toolchain
# (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross; libutf8proc-dev:arm64 for
# ken_base); test programs run under qemu-user (qemu-aarch64, which reads the
# CPU model from QEMU_CPU). Used with -DKEN_NN_ONLY=ON by tests/cli/nn_neon_qemu.sh.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
# the arm64 .pc files of Debian's multiarch packages, not the host's
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
# Static programs: qemu-user 7.2 (Debian 12) hangs in a dynamically linked
# arm64 glibc's pthread_create on some hosts; static ones run.
set(CMAKE_EXE_LINKER_FLAGS_INIT -static)
set(M_LIB m CACHE FILEPATH "libm by name, so the static link takes libm.a")
