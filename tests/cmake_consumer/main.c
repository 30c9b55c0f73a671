/* Consumer of an installed alcm: prints the version and the stats of [1,2,3,4]. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <alcm.h>

int main(void) {
    const float data[4] = {1, 2, 3, 4};
    const size_t shape[1] = {4};
    alcm_stats s;
    alcm_status st;

    if (strcmp(alcm_version_string(), ALCM_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", ALCM_VERSION_STRING, alcm_version_string());
        return 1;
    }
    st = alcm_tensor_stats(data, 1, shape, &s);
    if (st != ALCM_OK) {
        fprintf(stderr, "alcm_tensor_stats: %s\n", alcm_status_string(st));
        return 1;
    }
    if (fabs(s.mean - 2.5) > 1e-12 || fabs(s.var - 1.25) > 1e-12 || fabs(s.kurtosis - 1.64) > 1e-12) {
        fprintf(stderr, "wrong stats\n");
        return 1;
    }
    printf("alcm %s: mean %.2f var %.2f kurtosis %.2f\n", alcm_version_string(), s.mean, s.var,
           s.kurtosis);
    return 0;
}
