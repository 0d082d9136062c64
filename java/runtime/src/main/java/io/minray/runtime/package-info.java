/** The local minray runtime: a thread-pool task executor, the JNI native library loader and codecs. */
package io.minray.runtime;
