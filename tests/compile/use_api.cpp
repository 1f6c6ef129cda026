/* use_api.cpp - use_api.c compiled as C++: the header must serve both. */
#include "use_api.c"
