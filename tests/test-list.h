/*
 * test-list.h - every test, once.  TEST_ENTRY(name, seconds): the time limit
 * of one run (sanitized builds get four times as long).
 */
#define TEST_LIST(X)                                         \
	X(util_parse_u64, 5)                                 \
	X(util_counter_delta, 5)                             \
	X(util_strerror_names_every_code, 5)                 \
	X(util_format_parse, 5)                              \
	X(powercap_discovers_sockets_by_name, 10)            \
	X(powercap_skips_mmio_duplicate, 10)                 \
	X(powercap_uses_mmio_without_msr_zone, 10)           \
	X(powercap_psys_and_orphans, 10)                     \
	X(powercap_multi_die_packages, 10)                   \
	X(powercap_wrap_time_from_constraints, 10)           \
	X(powercap_missing_tree, 10)                         \
	X(powercap_permission_denied, 10)                    \
	X(powercap_bad_files, 10)                            \
	X(powercap_sysfs_root_option_and_env, 10)            \
	X(meter_energy_exact_across_wrap, 10)                \
	X(meter_never_negative, 10)                          \
	X(meter_select_domains, 10)                          \
	X(meter_regions_breakpoints, 10)                     \
	X(meter_region_state_errors, 10)                     \
	X(meter_lost_domain_keeps_data, 10)                  \
	X(meter_out_of_range_read_ignored, 10)               \
	X(meter_without_domains, 10)                         \
	X(meter_counter_restart_is_not_a_wrap, 10)           \
	X(sampler_matches_simulation_across_wraps, 30)       \
	X(sampler_catches_wraps_snapshots_miss, 20)          \
	X(sampler_schedule_does_not_drift, 20)               \
	X(sampler_raises_frequency_for_wraps, 10)            \
	X(sampler_stops_at_once, 10)                         \
	X(sampler_rejects_bad_frequency, 10)                 \
	X(sampler_caps_frequency_and_odd_ranges, 10)         \
	X(report_json_contract, 10)                          \
	X(report_total_counts_each_joule_once, 10)           \
	X(report_json_escapes_any_bytes, 10)                 \
	X(report_numbers_ignore_locale, 10)                  \
	X(report_csv_and_text, 10)                           \
	X(cli_monitor_matches_simulation, 40)                \
	X(cli_monitor_exit_status, 20)                       \
	X(cli_monitor_killed_command_still_reported, 20)     \
	X(cli_monitor_forwards_signals, 20)                  \
	X(cli_monitor_stdout_stays_clean, 20)                \
	X(cli_monitor_bad_arguments, 20)                     \
	X(cli_monitor_without_sources, 20)                   \
	X(cli_monitor_sensor_vanishes, 20)                   \
	X(cli_monitor_report_write_fails, 20)                \
	X(cli_monitor_formats, 20)                           \
	X(cli_list_domains_and_fixes, 20)                    \
	X(cli_version_and_help, 20)                          \
	X(contract_every_source, 30)
