#include "stop_signals.h"

#include <signal.h>
#include <string.h>

#include "common.h"

static volatile sig_atomic_t received;

static void on_signal(int sig) { received = sig; }

void stop_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        FATAL("installing the SIGUSR1/SIGTERM handlers");
}

int stop_signal_received(void) { return received; }
