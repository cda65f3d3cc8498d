/* Stands in for the CUDA header of this name under the emulator. */
#include "../cuda_emu.h"
