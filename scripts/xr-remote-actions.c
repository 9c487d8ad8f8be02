// A headless OpenXR app (XR_MND_headless: no graphics) that binds one interaction profile and
// prints, whenever they change, the right hand's grip pose in stage space and the action states
// bound to squeeze, trigger, a, b, thumbstick and menu. Used with scripts/xr-remote-probe.py
// --sequence to check, on the real runtime, which OpenXR paths the remote driver's inputs reach
// (the table in /work/notes/xr-remote.md). Not part of the test suite.
//   gcc scripts/xr-remote-actions.c -lopenxr_loader -o /tmp/xr-actions
//   XR_RUNTIME_JSON=... P_OVERRIDE_ACTIVE_CONFIG=remote /tmp/xr-actions index|touch|simple SECONDS
#include <openxr/openxr.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHK(x)                                                                                     \
	do {                                                                                       \
		XrResult r_ = (x);                                                                 \
		if (XR_FAILED(r_)) {                                                               \
			fprintf(stderr, "%s failed: %d\n", #x, r_);                                \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static XrInstance inst;
static XrPath path(const char *s) {
	XrPath p;
	CHK(xrStringToPath(inst, s, &p));
	return p;
}

enum { POSE, SQUEEZE, TRIGGER, A, B, STICK, MENU, N_ACTIONS };
static const char *names[N_ACTIONS] = {"grip", "squeeze", "trigger", "a", "b", "thumbstick", "menu"};
static const XrActionType types[N_ACTIONS] = {
    XR_ACTION_TYPE_POSE_INPUT,   XR_ACTION_TYPE_FLOAT_INPUT,   XR_ACTION_TYPE_FLOAT_INPUT,
    XR_ACTION_TYPE_BOOLEAN_INPUT, XR_ACTION_TYPE_BOOLEAN_INPUT, XR_ACTION_TYPE_VECTOR2F_INPUT,
    XR_ACTION_TYPE_BOOLEAN_INPUT};

int main(int argc, char **argv) {
	const char *prof = argc > 1 ? argv[1] : "index";
	double seconds = argc > 2 ? atof(argv[2]) : 10;
	// Right-hand paths per profile; NULL: the profile has no such input.
	const char *index[N_ACTIONS] = {"grip/pose", "squeeze/value", "trigger/value", "a/click", "b/click",
	                                "thumbstick", "system/click"};
	const char *touch[N_ACTIONS] = {"grip/pose", "squeeze/value", "trigger/value", "a/click", "b/click",
	                                "thumbstick", "system/click"};
	const char *simple[N_ACTIONS] = {"grip/pose", NULL, "select/click", NULL, NULL, NULL, "menu/click"};
	const char **paths;
	const char *profile_path;
	if (!strcmp(prof, "index")) {
		paths = index, profile_path = "/interaction_profiles/valve/index_controller";
	} else if (!strcmp(prof, "touch")) {
		paths = touch, profile_path = "/interaction_profiles/oculus/touch_controller";
	} else {
		paths = simple, profile_path = "/interaction_profiles/khr/simple_controller";
	}
	// KHR simple's select/click is a boolean: read the trigger action as a float anyway
	// (the runtime converts), so one print format serves every profile.

	const char *exts[] = {XR_MND_HEADLESS_EXTENSION_NAME};
	XrInstanceCreateInfo ici = {XR_TYPE_INSTANCE_CREATE_INFO};
	strcpy(ici.applicationInfo.applicationName, "xr-remote-actions");
	ici.applicationInfo.apiVersion = XR_MAKE_VERSION(1, 0, 0);
	ici.enabledExtensionCount = 1;
	ici.enabledExtensionNames = exts;
	CHK(xrCreateInstance(&ici, &inst));
	XrSystemGetInfo sgi = {XR_TYPE_SYSTEM_GET_INFO, NULL, XR_FORM_FACTOR_HEAD_MOUNTED_DISPLAY};
	XrSystemId sys;
	CHK(xrGetSystem(inst, &sgi, &sys));

	XrActionSetCreateInfo asci = {XR_TYPE_ACTION_SET_CREATE_INFO};
	strcpy(asci.actionSetName, "probe");
	strcpy(asci.localizedActionSetName, "probe");
	XrActionSet set;
	CHK(xrCreateActionSet(inst, &asci, &set));
	XrPath right = path("/user/hand/right");
	XrAction act[N_ACTIONS];
	XrActionSuggestedBinding sb[N_ACTIONS];
	uint32_t nsb = 0;
	for (int i = 0; i < N_ACTIONS; i++) {
		XrActionCreateInfo aci = {XR_TYPE_ACTION_CREATE_INFO};
		strcpy(aci.actionName, names[i]);
		strcpy(aci.localizedActionName, names[i]);
		aci.actionType = types[i];
		aci.countSubactionPaths = 1;
		aci.subactionPaths = &right;
		CHK(xrCreateAction(set, &aci, &act[i]));
		if (paths[i]) {
			char full[128];
			snprintf(full, sizeof full, "/user/hand/right/input/%s", paths[i]);
			sb[nsb++] = (XrActionSuggestedBinding){act[i], path(full)};
		}
	}
	XrInteractionProfileSuggestedBinding ipsb = {XR_TYPE_INTERACTION_PROFILE_SUGGESTED_BINDING};
	ipsb.interactionProfile = path(profile_path);
	ipsb.countSuggestedBindings = nsb;
	ipsb.suggestedBindings = sb;
	CHK(xrSuggestInteractionProfileBindings(inst, &ipsb));

	XrSessionCreateInfo sci = {XR_TYPE_SESSION_CREATE_INFO, NULL, 0, sys};
	XrSession sess;
	CHK(xrCreateSession(inst, &sci, &sess));
	XrSessionActionSetsAttachInfo sasai = {XR_TYPE_SESSION_ACTION_SETS_ATTACH_INFO, NULL, 1, &set};
	CHK(xrAttachSessionActionSets(sess, &sasai));
	XrReferenceSpaceCreateInfo rsci = {XR_TYPE_REFERENCE_SPACE_CREATE_INFO, NULL,
	                                   XR_REFERENCE_SPACE_TYPE_STAGE, {{0, 0, 0, 1}, {0, 0, 0}}};
	XrSpace stage, grip;
	CHK(xrCreateReferenceSpace(sess, &rsci, &stage));
	XrActionSpaceCreateInfo asp = {XR_TYPE_ACTION_SPACE_CREATE_INFO, NULL, act[POSE], right,
	                               {{0, 0, 0, 1}, {0, 0, 0}}};
	CHK(xrCreateActionSpace(sess, &asp, &grip));

	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int running = 0, printed_profile = 0;
	// A headless session has no frame loop; poses are located at the time of the last state
	// change (the remote driver reports its latest pose whatever the time).
	XrTime when = 0;
	char last[512] = "";
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		double el = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
		if (el > seconds) {
			break;
		}
		XrEventDataBuffer ev = {XR_TYPE_EVENT_DATA_BUFFER};
		while (xrPollEvent(inst, &ev) == XR_SUCCESS) {
			if (ev.type == XR_TYPE_EVENT_DATA_SESSION_STATE_CHANGED) {
				XrEventDataSessionStateChanged *sc = (XrEventDataSessionStateChanged *)&ev;
				printf("%.2f state %d\n", el, sc->state);
				when = sc->time;
				if (sc->state == XR_SESSION_STATE_READY) {
					XrSessionBeginInfo sbi = {XR_TYPE_SESSION_BEGIN_INFO, NULL,
					                          XR_VIEW_CONFIGURATION_TYPE_PRIMARY_STEREO};
					CHK(xrBeginSession(sess, &sbi));
					running = 1;
				}
			}
			ev = (XrEventDataBuffer){XR_TYPE_EVENT_DATA_BUFFER};
		}
		struct timespec ms = {0, 20000000};
		nanosleep(&ms, NULL);
		if (!running) {
			continue;
		}
		XrActiveActionSet aas = {set, XR_NULL_PATH};
		XrActionsSyncInfo asi = {XR_TYPE_ACTIONS_SYNC_INFO, NULL, 1, &aas};
		XrResult sr = xrSyncActions(sess, &asi);
		if (sr == XR_SUCCESS) {
			if (!printed_profile) {
				XrInteractionProfileState ips = {XR_TYPE_INTERACTION_PROFILE_STATE};
				xrGetCurrentInteractionProfile(sess, right, &ips);
				char buf[XR_MAX_PATH_LENGTH] = "(none)";
				uint32_t n = 0;
				if (ips.interactionProfile != XR_NULL_PATH) {
					xrPathToString(inst, ips.interactionProfile, sizeof buf, &n, buf);
				}
				printf("%.2f right hand profile %s\n", el, buf);
				printed_profile = ips.interactionProfile != XR_NULL_PATH;
			}
			XrSpaceLocation loc = {XR_TYPE_SPACE_LOCATION};
			CHK(xrLocateSpace(grip, stage, when, &loc));
			char line[512];
			int o = snprintf(line, sizeof line, "grip %s (%.2f %.2f %.2f) q(%.2f %.2f %.2f %.2f)",
			                 (loc.locationFlags & XR_SPACE_LOCATION_POSITION_TRACKED_BIT) ? "tracked"
			                                                                              : "untracked",
			                 loc.pose.position.x, loc.pose.position.y, loc.pose.position.z,
			                 loc.pose.orientation.x, loc.pose.orientation.y, loc.pose.orientation.z,
			                 loc.pose.orientation.w);
			for (int i = 1; i < N_ACTIONS; i++) {
				XrActionStateGetInfo gi = {XR_TYPE_ACTION_STATE_GET_INFO, NULL, act[i], right};
				if (types[i] == XR_ACTION_TYPE_FLOAT_INPUT) {
					XrActionStateFloat s = {XR_TYPE_ACTION_STATE_FLOAT};
					CHK(xrGetActionStateFloat(sess, &gi, &s));
					o += snprintf(line + o, sizeof line - o, " %s=%s%.2f", names[i],
					              s.isActive ? "" : "inactive:", s.currentState);
				} else if (types[i] == XR_ACTION_TYPE_BOOLEAN_INPUT) {
					XrActionStateBoolean s = {XR_TYPE_ACTION_STATE_BOOLEAN};
					CHK(xrGetActionStateBoolean(sess, &gi, &s));
					o += snprintf(line + o, sizeof line - o, " %s=%s%d", names[i],
					              s.isActive ? "" : "inactive:", s.currentState);
				} else {
					XrActionStateVector2f s = {XR_TYPE_ACTION_STATE_VECTOR2F};
					CHK(xrGetActionStateVector2f(sess, &gi, &s));
					o += snprintf(line + o, sizeof line - o, " %s=%s(%.2f %.2f)", names[i],
					              s.isActive ? "" : "inactive:", s.currentState.x, s.currentState.y);
				}
			}
			if (strcmp(line, last)) {
				printf("%.2f %s\n", el, line);
				fflush(stdout);
				strcpy(last, line);
			}
		}
	}
	xrDestroySession(sess);
	xrDestroyInstance(inst);
	return 0;
}
