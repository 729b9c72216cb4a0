/* app.c: the process-wide tg_app (see app.h). Kept out of main.c so that the unit
 * test runner links the server modules without main. */
#include "app.h"

static tg_app the_app;
tg_app *app = &the_app;
