#ifndef KVZ_STORE_PIPE_H
#define KVZ_STORE_PIPE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A download file written by one thread while another reads it from the
 * start: the unpacker follows the downloader through the partial file, so
 * bytes are hashed and unpacked in one pass, and the file on disk is what a
 * crashed pull resumes from.
 */
struct kvz_pipe {
    int fd; /* not owned */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t size; /* bytes in the file */
    unsigned gen;  /* bumped when the file starts over from byte 0 */
    bool done;     /* the writer finished: size is final */
    bool aborted;  /* the writer gave up: readers fail */
};

int kvz_pipe_init(struct kvz_pipe *p, int fd, uint64_t size);
void kvz_pipe_release(struct kvz_pipe *p);
/* Writer side. */
void kvz_pipe_grow(struct kvz_pipe *p, uint64_t size);
void kvz_pipe_restart(struct kvz_pipe *p);
void kvz_pipe_finish(struct kvz_pipe *p, bool ok);

/* A reader, from byte 0. */
struct kvz_pipe_reader {
    struct kvz_pipe *p;
    uint64_t pos;
    unsigned gen;
};

#define KVZ_PIPE_ABORTED   (-1)
#define KVZ_PIPE_RESTARTED (-2)

/*
 * Reads up to len bytes, waiting for the writer. Returns the byte count, 0 at
 * the end of a finished file, KVZ_PIPE_ABORTED when the writer gave up or a
 * read failed (errno set), KVZ_PIPE_RESTARTED when the file started over
 * (rewind the reader and begin again).
 */
ssize_t kvz_pipe_read(struct kvz_pipe_reader *r, void *buf, size_t len);
void kvz_pipe_rewind(struct kvz_pipe_reader *r);

#endif
