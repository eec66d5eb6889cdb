/* Everything is in include/clinux.h (static inline); this file gives the target a source. */
#include "clinux.h"
