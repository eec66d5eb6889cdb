/* skiff-relay's own declarations; the relay loop and the log are CRelay's (skiff_relay.h). */
#ifndef SKIFF_RELAY_MAIN_H
#define SKIFF_RELAY_MAIN_H

#include <skiff_relay.h>

/* keeper.c: `skiff-relay --keep-userns SOCKET-PATH IDLE-SECONDS`, the user namespace keeper. */
int keeper_main(int argc, char **argv);

#endif
