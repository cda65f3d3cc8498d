# kernels/*.cu as C++ for the CUDA emulator (tests/emu/cuda_emu.h): the
# two constructs g++ cannot read. A launch k<<<grid, block[, smem]>>>(args)
# becomes EMU_LAUNCH(grid, block[, smem])(k, args); dynamic shared memory
# becomes a pointer to the emulator's per-block buffer.
s/([A-Za-z_][A-Za-z0-9_]*(<[^<>]*>)?)[[:space:]]*<<<(.*)>>>\(\)/EMU_LAUNCH(\3)(\1)/
s/([A-Za-z_][A-Za-z0-9_]*(<[^<>]*>)?)[[:space:]]*<<<(.*)>>>\(/EMU_LAUNCH(\3)(\1, /
s/extern __shared__ (__align__\([0-9]+\) )?([A-Za-z_][A-Za-z0-9_ ]*[A-Za-z0-9_]) ([A-Za-z_][A-Za-z0-9_]*)\[\];/\2 *\3 = (\2 *)emu_dyn_smem;/
