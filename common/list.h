/*
 * list.h - the one intrusive doubly-linked list of the tree.
 *
 * A list is a head (a sentinel: common_list_init it before use) and nodes
 * embedded in the objects they link (COMMON_CONTAINER_OF gets the object
 * back). A node needs no initialisation: a zeroed node is "not linked", and
 * removing a node makes it "not linked" again, so removing twice is safe.
 * The list owns nothing; the objects' owner frees them after removing them.
 * Not thread-safe: each list belongs to one thread (or one lock).
 */
#ifndef COMMON_LIST_H
#define COMMON_LIST_H

#include <stddef.h>

typedef struct common_list {
    struct common_list *prev, *next;
} common_list;

#define COMMON_CONTAINER_OF(ptr, type, member)                                                     \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void common_list_init(common_list *head)
{
    head->prev = head->next = head;
}

static inline int common_list_empty(const common_list *head)
{
    return head->next == head;
}

/* Is this node on a list? */
static inline int common_list_linked(const common_list *node)
{
    return node->next != NULL;
}

/* Links node in front of `at` (at the tail when `at` is the head). */
static inline void common_list_insert_before(common_list *at, common_list *node)
{
    node->prev = at->prev;
    node->next = at;
    at->prev->next = node;
    at->prev = node;
}

static inline void common_list_push_back(common_list *head, common_list *node)
{
    common_list_insert_before(head, node);
}

static inline void common_list_push_front(common_list *head, common_list *node)
{
    common_list_insert_before(head->next, node);
}

/* Unlinks node if it is linked. */
static inline void common_list_remove(common_list *node)
{
    if (node->next == NULL)
        return;
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}

/* The first / last node, or NULL when the list is empty. */
static inline common_list *common_list_first(const common_list *head)
{
    return head->next == head ? NULL : head->next;
}

static inline common_list *common_list_last(const common_list *head)
{
    return head->prev == head ? NULL : head->prev;
}

/* The node after / before n, or NULL at the end. */
static inline common_list *common_list_next(const common_list *head, const common_list *n)
{
    return n->next == head ? NULL : n->next;
}

static inline common_list *common_list_prev(const common_list *head, const common_list *n)
{
    return n->prev == head ? NULL : n->prev;
}

/* Moves every node of `from` to the tail of `to`; `from` is left empty. */
static inline void common_list_splice(common_list *to, common_list *from)
{
    if (from->next == from)
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    common_list_init(from);
}

/* A list that counts its nodes (the head of a queue whose length is read
 * often). Its nodes are plain common_list nodes. */
typedef struct common_clist {
    common_list head;
    size_t len;
} common_clist;

static inline void common_clist_init(common_clist *l)
{
    common_list_init(&l->head);
    l->len = 0;
}

static inline void common_clist_push_back(common_clist *l, common_list *node)
{
    common_list_insert_before(&l->head, node);
    l->len++;
}

static inline void common_clist_push_front(common_clist *l, common_list *node)
{
    common_list_insert_before(l->head.next, node);
    l->len++;
}

/* node must be on l. */
static inline void common_clist_remove(common_clist *l, common_list *node)
{
    common_list_remove(node);
    l->len--;
}

/* Removes and returns the first node, or NULL when l is empty. */
static inline common_list *common_clist_pop_front(common_clist *l)
{
    common_list *n = common_list_first(&l->head);
    if (n != NULL)
        common_clist_remove(l, n);
    return n;
}

/* Moves every node of `from`, in order, in front of the first node of
 * `to`; `from` is left empty. */
static inline void common_clist_splice_front(common_clist *to, common_clist *from)
{
    if (from->len == 0)
        return;
    common_list *first = from->head.next, *last = from->head.prev, *at = to->head.next;
    first->prev = &to->head;
    last->next = at;
    at->prev = last;
    to->head.next = first;
    to->len += from->len;
    common_clist_init(from);
}

/* Iterates over the nodes; `it` may be removed (not others) in the body. */
#define COMMON_LIST_FOREACH(it, tmp, head)                                                         \
    for (common_list *it = (head)->next, *tmp = it->next; it != (head); it = tmp, tmp = it->next)

#endif
