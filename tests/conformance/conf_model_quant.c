/* conf_model_quant.c: the decoder conformance checks of conf_model.c on
 * the 11 quantized tiny-llama-q models (a separate program so ctest can run
 * the two halves in parallel). */
#define CONF_MODEL_QUANT 1
#include "conf_model.c"
