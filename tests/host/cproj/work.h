/* work.h — the one function of work.c, for main.c (tests/host/cproj). */
#ifndef WORK_H
#define WORK_H
unsigned work(unsigned seed);
#endif
