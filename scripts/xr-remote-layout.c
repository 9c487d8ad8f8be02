// Prints the layout of Monado's remote-driver record (struct r_remote_data,
// src/xrt/drivers/remote/r_interface.h) that tests/app/xr_remote.rs mirrors.
// Used once by hand to get the numbers in that file's layout checks:
//   tar xzf ../shared/xr/monado-25.1.0.tar.gz -C /tmp && M=/tmp/monado-25.1.0/src/xrt
//   gcc -std=c11 -I$M/drivers/remote -I$M/include -I$M/auxiliary scripts/xr-remote-layout.c -o /tmp/l && /tmp/l
#include "r_interface.h"
#include <stdio.h>
#include <stddef.h>
#define O(T, F) printf("%-40s %3zu\n", #T "." #F, offsetof(struct T, F))
#define S(T) printf("sizeof %-33s %3zu (align %zu)\n", #T, sizeof(struct T), _Alignof(struct T))
int main(void) {
  S(xrt_pose); S(xrt_fov); S(r_remote_controller_data); S(r_head_data); S(r_remote_data);
  O(r_remote_data, header); O(r_remote_data, head); O(r_remote_data, left); O(r_remote_data, right);
  O(r_head_data, views); O(r_head_data, views[1]); O(r_head_data, views[0].fov); O(r_head_data, views[0].pose); O(r_head_data, views[0]._pad);
  O(r_head_data, center); O(r_head_data, per_view_data_valid); O(r_head_data, _pad0);
  O(r_remote_controller_data, pose); O(r_remote_controller_data, linear_velocity); O(r_remote_controller_data, angular_velocity);
  O(r_remote_controller_data, hand_curl); O(r_remote_controller_data, trigger_value); O(r_remote_controller_data, squeeze_value);
  O(r_remote_controller_data, squeeze_force); O(r_remote_controller_data, thumbstick); O(r_remote_controller_data, trackpad_force);
  O(r_remote_controller_data, trackpad); O(r_remote_controller_data, hand_tracking_active); O(r_remote_controller_data, active);
  O(r_remote_controller_data, system_click); O(r_remote_controller_data, system_touch); O(r_remote_controller_data, a_click);
  O(r_remote_controller_data, a_touch); O(r_remote_controller_data, b_click); O(r_remote_controller_data, b_touch);
  O(r_remote_controller_data, trigger_click); O(r_remote_controller_data, trigger_touch); O(r_remote_controller_data, thumbstick_click);
  O(r_remote_controller_data, thumbstick_touch); O(r_remote_controller_data, trackpad_touch); O(r_remote_controller_data, _pad0);
  const char *h = "mndrmt3"; unsigned long long v; __builtin_memcpy(&v, h, 8); printf("R_HEADER_VALUE 0x%016llx\n", v);
  return 0; }
