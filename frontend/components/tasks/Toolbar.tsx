"use client";

import { useEffect, useId, useState } from "react";
import type { Priority, SortField, SortOrder, StatusFilter, TaskFilters } from "@/lib/types";
import { fieldClass, labelClass } from "./styles";

const DEBOUNCE_MS = 250;

/** Search, filters and sort. Text inputs are applied ~250 ms after typing stops. */
export function Toolbar({ filters, onChange }: { filters: TaskFilters; onChange: (f: TaskFilters) => void }) {
  const id = useId();
  const [q, setQ] = useState(filters.q);
  const [tag, setTag] = useState(filters.tags[0] ?? "");

  useEffect(() => {
    const wanted = q;
    const wantedTags = tag.trim() ? [tag.trim()] : [];
    if (wanted === filters.q && wantedTags.join(",") === filters.tags.join(",")) return;
    const t = setTimeout(() => onChange({ ...filters, q: wanted, tags: wantedTags }), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [q, tag, filters, onChange]);

  const set = (p: Partial<TaskFilters>) => onChange({ ...filters, q, tags: tag.trim() ? [tag.trim()] : [], ...p });

  return (
    <div role="search" aria-label="Filter tasks" className="grid grid-cols-2 gap-3 rounded-lg bg-white p-4 shadow-sm sm:grid-cols-3 lg:grid-cols-7">
      <div className="col-span-2 sm:col-span-3 lg:col-span-2">
        <label htmlFor={`${id}-q`} className={labelClass}>
          Search
        </label>
        <input
          id={`${id}-q`}
          type="search"
          value={q}
          placeholder="Title or description"
          onChange={(e) => setQ(e.target.value)}
          className={fieldClass}
        />
      </div>
      <div>
        <label htmlFor={`${id}-status`} className={labelClass}>
          Status
        </label>
        <select
          id={`${id}-status`}
          value={filters.status}
          onChange={(e) => set({ status: e.target.value as StatusFilter })}
          className={fieldClass}
        >
          <option value="all">All</option>
          <option value="pending">Pending</option>
          <option value="completed">Completed</option>
        </select>
      </div>
      <div>
        <label htmlFor={`${id}-priority`} className={labelClass}>
          Priority
        </label>
        <select
          id={`${id}-priority`}
          value={filters.priority ?? ""}
          onChange={(e) => set({ priority: (e.target.value || null) as Priority | null })}
          className={fieldClass}
        >
          <option value="">Any</option>
          <option value="low">Low</option>
          <option value="medium">Medium</option>
          <option value="high">High</option>
        </select>
      </div>
      <div className="col-span-2 sm:col-span-1">
        <label htmlFor={`${id}-tag`} className={labelClass}>
          Tag
        </label>
        <input
          id={`${id}-tag`}
          value={tag}
          placeholder="e.g. home"
          onChange={(e) => setTag(e.target.value)}
          className={fieldClass}
        />
      </div>
      <div>
        <label htmlFor={`${id}-sort`} className={labelClass}>
          Sort by
        </label>
        <select
          id={`${id}-sort`}
          value={filters.sort}
          onChange={(e) => set({ sort: e.target.value as SortField })}
          className={fieldClass}
        >
          <option value="created_at">Created</option>
          <option value="updated_at">Updated</option>
          <option value="due_date">Due date</option>
          <option value="priority">Priority</option>
          <option value="title">Title</option>
        </select>
      </div>
      <div>
        <label htmlFor={`${id}-order`} className={labelClass}>
          Order
        </label>
        <select
          id={`${id}-order`}
          value={filters.order}
          onChange={(e) => set({ order: e.target.value as SortOrder })}
          className={fieldClass}
        >
          <option value="desc">Descending</option>
          <option value="asc">Ascending</option>
        </select>
      </div>
    </div>
  );
}
