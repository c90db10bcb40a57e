/* generate.h (kb): what generate.c shares with generate_json.c and chat.c. */
#ifndef KEN_KB_GENERATE_H
#define KEN_KB_GENERATE_H

#include "ken_ask.h"

/* Where ken_reply_json keeps the JSON text it made (owned by the reply). */
char **ken_kb_reply_json_slot(ken_reply *r);

#endif
