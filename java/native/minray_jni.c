/*
 * JNI bindings of io.minray.runtime.NativeLib over minray's C library
 * (python/cpp/include/minray/minray.h, python/cpp/src/minray_cpp.c).
 *
 * Build (linux x86_64; aarch64: aarch64-linux-gnu-gcc, same flags):
 *   gcc -shared -fPIC -O2 -I$JAVA_HOME/include -I$JAVA_HOME/include/linux \
 *       -Ipython/cpp/include java/native/minray_jni.c python/cpp/src/minray_cpp.c \
 *       -o libminray_jni.so
 */
#include <jni.h>
#include <stddef.h>
#include <stdint.h>

#include "minray/minray.h"

static void throw_by_name(JNIEnv *env, const char *cls_name, const char *msg) {
  jclass cls = (*env)->FindClass(env, cls_name);
  if (cls != NULL) {
    (*env)->ThrowNew(env, cls, msg);
    (*env)->DeleteLocalRef(env, cls);
  }
}

/* private static native int nativeChecksum32(byte[] data); */
JNIEXPORT jint JNICALL
Java_io_minray_runtime_NativeLib_nativeChecksum32(JNIEnv *env, jclass cls, jbyteArray data) {
  (void)cls;
  if (data == NULL) {
    throw_by_name(env, "java/lang/NullPointerException", "data");
    return 0;
  }
  jsize len = (*env)->GetArrayLength(env, data);
  jbyte *bytes = (*env)->GetByteArrayElements(env, data, NULL);
  if (bytes == NULL) {
    return 0; /* OutOfMemoryError already pending */
  }
  uint32_t sum = minray_checksum32((const uint8_t *)bytes, (size_t)len);
  (*env)->ReleaseByteArrayElements(env, data, bytes, JNI_ABORT); /* read only: no copy back */
  return (jint)sum;
}

/* private static native String nativeVersion(); */
JNIEXPORT jstring JNICALL
Java_io_minray_runtime_NativeLib_nativeVersion(JNIEnv *env, jclass cls) {
  (void)cls;
  const char *version = minray_version();
  if (version == NULL) {
    throw_by_name(env, "java/lang/IllegalStateException", "minray_version() returned NULL");
    return NULL;
  }
  return (*env)->NewStringUTF(env, version);
}
