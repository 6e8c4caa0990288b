#include "store/pipe.h"

#include <errno.h>
#include <unistd.h>

int kvz_pipe_init(struct kvz_pipe *p, int fd, uint64_t size)
{
    *p = (struct kvz_pipe){.fd = fd, .size = size};
    if (pthread_mutex_init(&p->mu, NULL))
        return -1;
    if (pthread_cond_init(&p->cv, NULL)) {
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    return 0;
}

void kvz_pipe_release(struct kvz_pipe *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

void kvz_pipe_grow(struct kvz_pipe *p, uint64_t size)
{
    pthread_mutex_lock(&p->mu);
    p->size = size;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kvz_pipe_restart(struct kvz_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->size = 0;
    p->gen++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kvz_pipe_finish(struct kvz_pipe *p, bool ok)
{
    pthread_mutex_lock(&p->mu);
    p->done = true;
    p->aborted = !ok;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kvz_pipe_rewind(struct kvz_pipe_reader *r)
{
    pthread_mutex_lock(&r->p->mu);
    r->gen = r->p->gen;
    pthread_mutex_unlock(&r->p->mu);
    r->pos = 0;
}

ssize_t kvz_pipe_read(struct kvz_pipe_reader *r, void *buf, size_t len)
{
    struct kvz_pipe *p = r->p;
    uint64_t avail;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->aborted) {
            pthread_mutex_unlock(&p->mu);
            errno = ECANCELED;
            return KVZ_PIPE_ABORTED;
        }
        if (p->gen != r->gen) {
            pthread_mutex_unlock(&p->mu);
            return KVZ_PIPE_RESTARTED;
        }
        if (p->size > r->pos || p->done)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    avail = p->size - r->pos;
    pthread_mutex_unlock(&p->mu);
    if (avail == 0)
        return 0;
    if (len > avail)
        len = (size_t)avail;
    ssize_t n;
    do
        n = pread(p->fd, buf, len, (off_t)r->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return KVZ_PIPE_ABORTED;
    r->pos += (uint64_t)n;
    return n;
}
