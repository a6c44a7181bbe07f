/*
 * nvml_api.h - the part of NVIDIA's NVML that wattprof calls, declared by
 * hand so that nothing of NVIDIA's is needed at build time: the library is
 * opened with dlopen() at run time (nvml.c) and every function is looked up
 * by name.  The fake NVML of the test suite (tests/fakenvml/) implements the
 * same declarations, so both sides agree on every layout.
 *
 * Types, values and layouts follow NVIDIA's nvml.h as shipped with the CUDA
 * toolkit and documented in the "NVML API Reference Guide"
 * (docs.nvidia.com/deploy/nvml-api/).  Only what is used is here.
 */
#ifndef WATTPROF_NVML_API_H
#define WATTPROF_NVML_API_H

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef int nvmlReturn_t;

/* nvmlReturn_t values (nvml.h, "Error reporting") */
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_LIBRARY_NOT_FOUND 12
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_UNKNOWN 999

/* Buffer sizes (nvml.h) */
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80

/* nvmlTemperatureSensors_t */
#define NVML_TEMPERATURE_GPU 0
/* nvmlClockType_t */
#define NVML_CLOCK_SM 1

/* nvmlDeviceArchitecture_t (nvmlDeviceGetArchitecture, optional) */
#define NVML_DEVICE_ARCH_VOLTA 5
#define NVML_DEVICE_ARCH_AMPERE 7
#define NVML_DEVICE_ARCH_HOPPER 9

/* Field ids for nvmlDeviceGetFieldValues (nvml.h, NVML_FI_DEV_*). */
#define NVML_FI_DEV_POWER_AVERAGE 185 /* the driver's 1 s average, mW */
#define NVML_FI_DEV_POWER_INSTANT 186 /* the latest power sample, mW */

/* nvmlValueType_t */
#define NVML_VALUE_TYPE_DOUBLE 0
#define NVML_VALUE_TYPE_UNSIGNED_INT 1
#define NVML_VALUE_TYPE_UNSIGNED_LONG 2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG 4
#define NVML_VALUE_TYPE_SIGNED_INT 5

typedef union nvmlValue_st {
	double dVal;
	int siVal;
	unsigned int uiVal;
	unsigned long ulVal;
	unsigned long long ullVal;
	signed long long sllVal;
} nvmlValue_t;

typedef struct nvmlFieldValue_st {
	unsigned int fieldId;
	unsigned int scopeId;
	long long timestamp;   /* us since 1970 */
	long long latencyUsec;
	int valueType;         /* nvmlValueType_t */
	nvmlReturn_t nvmlReturn;
	nvmlValue_t value;
} nvmlFieldValue_t;

typedef struct nvmlUtilization_st {
	unsigned int gpu;    /* % of the last period with a kernel running */
	unsigned int memory; /* % of the last period with memory read or written */
} nvmlUtilization_t;

typedef struct nvmlMemory_st {
	unsigned long long total, free, used; /* bytes */
} nvmlMemory_t;

/*
 * Some fields' "not available" (nvml.h defines it as (-1)): in an unsigned
 * long long such as nvmlProcessInfo_t.usedGpuMemory it reads as 2^64 - 1.
 */
#define NVML_VALUE_NOT_AVAILABLE (-1)

/*
 * nvmlDeviceGetProcessUtilization's samples (per-process attribution), as
 * the reference's nvmlProcessUtilizationSample_t: pid, timeStamp ("CPU
 * Timestamp in microseconds"), then the SM, frame buffer, encoder and
 * decoder utilisation, % each.
 */
typedef struct nvmlProcessUtilizationSample_st {
	unsigned int pid;
	unsigned long long timeStamp; /* us since 1970 */
	unsigned int smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;

/*
 * The entries of nvmlDeviceGetComputeRunningProcesses_v3 and
 * nvmlDeviceGetGraphicsRunningProcesses_v3: the reference's
 * nvmlProcessInfo_v2_t (nvml.h: "nvmlProcessInfo_v2_t, nvmlProcessInfo_t"),
 * pid, usedGpuMemory (bytes, or NVML_VALUE_NOT_AVAILABLE), gpuInstanceId and
 * computeInstanceId (0xFFFFFFFF outside MIG).  The older _v1 struct has only
 * the first two, which is why the unversioned functions are not used.
 */
typedef struct nvmlProcessInfo_v2_st {
	unsigned int pid;
	unsigned long long usedGpuMemory; /* bytes */
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_v2_t, nvmlProcessInfo_t;

#if defined(__x86_64__) || defined(__aarch64__) || defined(__powerpc64__)
/* The layouts of NVIDIA's 64-bit library: a 64-bit field is 8-aligned. */
_Static_assert(sizeof(nvmlProcessUtilizationSample_t) == 32, "nvmlProcessUtilizationSample_t");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_v2_t");
#endif

/*
 * Every function wattprof may call, as X(return, name, parameters).  Those
 * marked required must be present; the rest may be missing from old
 * drivers, and their pointer is then NULL.
 */
#define WP_NVML_FUNCTIONS(X)                                                               \
	X(nvmlReturn_t, nvmlInit_v2, (void))                                               \
	X(nvmlReturn_t, nvmlInit, (void))                                                  \
	X(nvmlReturn_t, nvmlShutdown, (void))                                              \
	X(const char *, nvmlErrorString, (nvmlReturn_t))                                   \
	X(nvmlReturn_t, nvmlSystemGetDriverVersion, (char *, unsigned int))                \
	X(nvmlReturn_t, nvmlDeviceGetCount_v2, (unsigned int *))                           \
	X(nvmlReturn_t, nvmlDeviceGetCount, (unsigned int *))                              \
	X(nvmlReturn_t, nvmlDeviceGetHandleByIndex_v2, (unsigned int, nvmlDevice_t *))     \
	X(nvmlReturn_t, nvmlDeviceGetHandleByIndex, (unsigned int, nvmlDevice_t *))        \
	X(nvmlReturn_t, nvmlDeviceGetName, (nvmlDevice_t, char *, unsigned int))           \
	X(nvmlReturn_t, nvmlDeviceGetUUID, (nvmlDevice_t, char *, unsigned int))           \
	X(nvmlReturn_t, nvmlDeviceGetArchitecture, (nvmlDevice_t, unsigned int *))         \
	X(nvmlReturn_t, nvmlDeviceGetTotalEnergyConsumption,                               \
	  (nvmlDevice_t, unsigned long long *))                                            \
	X(nvmlReturn_t, nvmlDeviceGetFieldValues, (nvmlDevice_t, int, nvmlFieldValue_t *)) \
	X(nvmlReturn_t, nvmlDeviceGetPowerUsage, (nvmlDevice_t, unsigned int *))           \
	X(nvmlReturn_t, nvmlDeviceGetEnforcedPowerLimit, (nvmlDevice_t, unsigned int *))   \
	X(nvmlReturn_t, nvmlDeviceGetPowerManagementLimit, (nvmlDevice_t, unsigned int *)) \
	X(nvmlReturn_t, nvmlDeviceGetPowerManagementLimitConstraints,                      \
	  (nvmlDevice_t, unsigned int *, unsigned int *))                                  \
	X(nvmlReturn_t, nvmlDeviceGetPowerManagementDefaultLimit,                          \
	  (nvmlDevice_t, unsigned int *))                                                  \
	X(nvmlReturn_t, nvmlDeviceSetPowerManagementLimit, (nvmlDevice_t, unsigned int))   \
	X(nvmlReturn_t, nvmlDeviceGetUtilizationRates, (nvmlDevice_t, nvmlUtilization_t *)) \
	X(nvmlReturn_t, nvmlDeviceGetTemperature, (nvmlDevice_t, int, unsigned int *))     \
	X(nvmlReturn_t, nvmlDeviceGetMemoryInfo, (nvmlDevice_t, nvmlMemory_t *))           \
	X(nvmlReturn_t, nvmlDeviceGetClockInfo, (nvmlDevice_t, int, unsigned int *))       \
	X(nvmlReturn_t, nvmlDeviceGetProcessUtilization,                                   \
	  (nvmlDevice_t, nvmlProcessUtilizationSample_t *, unsigned int *,                 \
	   unsigned long long))                                                            \
	X(nvmlReturn_t, nvmlDeviceGetComputeRunningProcesses_v3,                           \
	  (nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *))                             \
	X(nvmlReturn_t, nvmlDeviceGetGraphicsRunningProcesses_v3,                          \
	  (nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *))                             \
	X(nvmlReturn_t, nvmlDeviceGetHandleByUUID, (const char *, nvmlDevice_t *))         \
	X(nvmlReturn_t, nvmlDeviceGetDeviceHandleFromMigDeviceHandle,                      \
	  (nvmlDevice_t, nvmlDevice_t *))

#endif
