"use client";

import { useEffect, useId, useState } from "react";
import type { Priority, SortField, SortOrder, StatusFilter, TaskFilters } from "@/lib/types";
import { Field, SelectField, type Options } from "../ui/Field";
import { fieldClass } from "../ui/styles";
import { PRIORITY_OPTIONS } from "./TaskFields";

const DEBOUNCE_MS = 250;

const STATUS_OPTIONS: Options<StatusFilter> = [
  ["all", "All"],
  ["pending", "Pending"],
  ["completed", "Completed"],
];

const PRIORITY_FILTER_OPTIONS: Options<Priority | ""> = [["", "Any"], ...PRIORITY_OPTIONS];

const SORT_OPTIONS: Options<SortField> = [
  ["created_at", "Created"],
  ["updated_at", "Updated"],
  ["due_date", "Due date"],
  ["priority", "Priority"],
  ["title", "Title"],
];

const ORDER_OPTIONS: Options<SortOrder> = [
  ["desc", "Descending"],
  ["asc", "Ascending"],
];

/** The tag filter typed in the Tag box: one tag, or none. */
function tagsOf(text: string): string[] {
  const t = text.trim();
  return t ? [t] : [];
}

/** Search, filters and sort. Text inputs are applied ~250 ms after typing stops. */
export function Toolbar({ filters, onChange }: { filters: TaskFilters; onChange: (f: TaskFilters) => void }) {
  const id = useId();
  const [q, setQ] = useState(filters.q);
  const [tag, setTag] = useState(filters.tags[0] ?? "");

  useEffect(() => {
    const tags = tagsOf(tag);
    if (q === filters.q && tags.join(",") === filters.tags.join(",")) return;
    const t = setTimeout(() => onChange({ ...filters, q, tags }), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [q, tag, filters, onChange]);

  const set = (p: Partial<TaskFilters>) => onChange({ ...filters, q, tags: tagsOf(tag), ...p });

  return (
    <div role="search" aria-label="Filter tasks" className="grid grid-cols-2 gap-3 rounded-lg bg-white p-4 shadow-sm sm:grid-cols-3 lg:grid-cols-7">
      <Field id={`${id}-q`} label="Search" className="col-span-2 sm:col-span-3 lg:col-span-2">
        <input
          id={`${id}-q`}
          type="search"
          value={q}
          placeholder="Title or description"
          onChange={(e) => setQ(e.target.value)}
          className={fieldClass}
        />
      </Field>
      <SelectField
        id={`${id}-status`}
        label="Status"
        value={filters.status}
        options={STATUS_OPTIONS}
        onChange={(status) => set({ status })}
      />
      <SelectField
        id={`${id}-priority`}
        label="Priority"
        value={filters.priority ?? ""}
        options={PRIORITY_FILTER_OPTIONS}
        onChange={(p) => set({ priority: p || null })}
      />
      <Field id={`${id}-tag`} label="Tag" className="col-span-2 sm:col-span-1">
        <input
          id={`${id}-tag`}
          value={tag}
          placeholder="e.g. home"
          onChange={(e) => setTag(e.target.value)}
          className={fieldClass}
        />
      </Field>
      <SelectField
        id={`${id}-sort`}
        label="Sort by"
        value={filters.sort}
        options={SORT_OPTIONS}
        onChange={(sort) => set({ sort })}
      />
      <SelectField
        id={`${id}-order`}
        label="Order"
        value={filters.order}
        options={ORDER_OPTIONS}
        onChange={(order) => set({ order })}
      />
    </div>
  );
}
