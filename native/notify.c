// systemd's notify protocol (sd_notify(3)): one datagram of "KEY=VALUE" lines to the unix socket named by
// NOTIFY_SOCKET. Node has no unix datagram sockets, so the addon sends it. A name starting with '@' is
// an abstract socket (Linux). Never blocks: a full socket queue is EAGAIN, which the caller logs.
#include "sluice.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *path, size_t path_len, const char *msg, size_t len) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path_len == 0 || path_len >= sizeof sa.sun_path) return EINVAL;
  if (path[0] != '/' && path[0] != '@') return EAFNOSUPPORT;  // vsock addresses are not supported
  memcpy(sa.sun_path, path, path_len);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
  ssize_t n = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
  int err = n < 0 ? errno : (size_t)n != len ? EMSGSIZE : 0;
  close(fd);
  return err;
}
