// Deadlines of the engine: one FIFO list per fixed duration (CONNECT timeout, broker connect timeout,
// refusal linger). Every entry of a list waits the same time, so arrival order is deadline order: adding,
// removing and finding the next are O(1), and one uv_timer, armed for the nearest head (or a paused
// listener's resume), serves all of them. The head of the CONNECT list is also the oldest pending client,
// the one max_pending evicts.
#include "sluice.h"

#include <errno.h>
#include <sys/epoll.h>

void deadline_remove(conn_t *c) {
  if (c->dl_kind < 0) return;
  list_remove(&c->dl_link);
  c->dl_kind = -1;
  c->dl_at = 0;
}

void deadline_add(conn_t *c, int kind) {
  state_t *st = c->st;
  deadline_remove(c);
  c->dl_kind = (int8_t)kind;
  c->dl_at = uv_now(st->loop) + st->duration_ms[kind];
  int was_empty = list_empty(&st->deadline[kind]);
  list_push(&st->deadline[kind], &c->dl_link);
  // A later entry of a non-empty list is never the nearest: the timer is armed for that list's head.
  if (was_empty) deadline_arm(st);
}

/** Arms the timer for the nearest deadline head or listener resume; stops it when there is none. */
void deadline_arm(state_t *st) {
  uint64_t next = UINT64_MAX;
  for (int k = 0; k < kDeadlineKinds; k++) {
    if (list_empty(&st->deadline[k])) continue;
    conn_t *head = container_of(st->deadline[k].next, conn_t, dl_link);
    if (head->dl_at < next) next = head->dl_at;
  }
  for (int i = 0; i < st->nlisteners; i++) {
    if (st->listeners[i].paused && st->listeners[i].paused_until < next) next = st->listeners[i].paused_until;
  }
  if (next == UINT64_MAX) {
    uv_timer_stop(&st->timer);
    return;
  }
  uint64_t now = uv_now(st->loop);
  uv_timer_start(&st->timer, engine_on_timer, next > now ? next - now : 0, 0);
}

static void expire(conn_t *c) {
  state_t *st = c->st;
  int kind = c->dl_kind;
  deadline_remove(c);
  switch (kind) {
    case kDeadlineConnect: {
      // connect_timeout: closed without an answer (MQTT has none for it), told to JS with the client's
      // address for the log line (b: its offset in the data array, c: its length; -1 and 0 without one).
      char peer[64];
      uint32_t n = peer_text(c->fd[kClient], peer, sizeof peer);
      engine_emit(st, kEvTimedOut, c->slot, c->in_len, -1, n, 0, n ? (const uint8_t *)peer : NULL, n);
      conn_free(c);
      break;
    }
    case kDeadlineBroker:
      // No answer from the broker in time: JS tries the next candidate.
      engine_broker_failed(c, ETIMEDOUT);
      break;
    case kDeadlineLinger:
      conn_free(c);
      break;
  }
}

/** Expires what is due and re-arms. */
void deadline_fire(state_t *st) {
  uint64_t now = uv_now(st->loop);
  for (int k = 0; k < kDeadlineKinds; k++) {
    while (!list_empty(&st->deadline[k])) {
      conn_t *head = container_of(st->deadline[k].next, conn_t, dl_link);
      if (head->dl_at > now) break;
      expire(head);
    }
  }
  for (int i = 0; i < st->nlisteners; i++) {
    listener_t *l = &st->listeners[i];
    if (!l->paused || l->paused_until > now) continue;
    struct epoll_event ev = { .events = EPOLLIN, .data = { .u64 = UINT64_MAX - (uint64_t)i } };
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, l->fd, &ev) == 0) l->paused = 0;
    else l->paused_until = now + 100;
  }
  deadline_arm(st);
}
