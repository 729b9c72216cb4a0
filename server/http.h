/* http.h: the HTTP daemon (libmicrohttpd). See http.c. */
#ifndef TG_HTTP_H
#define TG_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../core/tg.h"

/* Starts listening on bind_addr:port (port 0 = any free port, see http_port). */
int http_start(int port, const char *bind_addr, tg_err *err);
/* The port actually bound. */
int http_port(void);
/* Stops accepting, closes connections and joins the connection threads. */
void http_stop(void);

#endif
